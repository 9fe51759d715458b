/**
 * One workflow per packet, id `packet-<packetId>`. Packets started since the credit pump (`patched('credit-
 * pump')`): pay, then wait for "all credited" (from the pump) or the expiry timer, then settle; a few dozen
 * events whatever the share count. Since `patched('settle-leaves-owed')` settlement refunds the unclaimed
 * rest at once and leaves credits still owed to the pumps: the packet is CLOSED until the pump reports the
 * last one credited (before, settlement credited them itself and waited for any that failed).
 *
 * Packets started before it keep their old path until they finish: credit claims in waves woken by
 * `claimed` signals, with a backing-off sweep that catches lost signals (one local activity per sweep, up to
 * SWEEP_MAX_MS apart), or settle at expiry. Postgres is the truth on both paths.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  allCreditedSignal,
  claimedSignal,
  creditHealthSignal,
  freshPacketView,
  packetViewQuery,
  paidPacketOf,
  payUpdate,
  type PacketInput,
  type PacketResult,
  type PacketView,
  type StuckCredit,
  type WaitingCredit,
} from '../saga';
import {
  gate,
  localPayment,
  payment,
  PAYMENT_REFUSALS,
  settleLocally,
  settlement,
  sweep,
} from './packetActivities';
import { createCreditTracker, createPublisher } from './packetRun';

/** First sweep after the last activity, doubling while nothing arrives, up to the cap. */
export const SWEEP_BASE_MS = 60_000;
export const SWEEP_MAX_MS = 80 * 60_000;
/** Far below the server's limits; a long-lived packet with a trickle of opens starts a fresh run here. */
const HISTORY_EVENTS_BEFORE_CONTINUE = 4_000;

/** Packets started from this version on are credited by the credit pumps (workflows/creditPump.ts). */
export const CREDIT_PUMP_PATCH = 'credit-pump';
/** Packets started from this version on pay in a local activity (packetActivities.ts, `localPayment`). */
export const LOCAL_PAYMENT_PATCH = 'local-payment';
/** Packets from this version on refund at settlement without waiting for owed credits (closeAndRefund). */
export const SETTLE_LEAVES_OWED_PATCH = 'settle-leaves-owed';

export async function packetWorkflow(input: PacketInput, carried?: PacketView): Promise<PacketResult> {
  const view: PacketView = carried ?? freshPacketView(input);
  const waiting = new Map<string, WaitingCredit>(view.waiting.map((claim) => [claim.claimId, claim]));
  // A signal can arrive after the wave that credited its claim (a wave may find claims before their signal
  // is flushed); remembering what was credited keeps such claims off the waiting list. At most `count` ids.
  const credited = new Set<string>(view.creditedIds);
  let wakeups = 0;
  let paymentError: ApplicationFailure | undefined;
  let paid = carried !== undefined;

  setHandler(packetViewQuery, () => ({
    ...view,
    waiting: [...waiting.values()],
    creditedIds: [...credited],
  }));
  setHandler(claimedSignal, ({ claims }) => {
    wakeups++;
    for (const claim of claims) {
      if (!waiting.has(claim.claimId) && !credited.has(claim.claimId))
        waiting.set(claim.claimId, { ...claim, sinceMs: Date.now(), lastError: null });
    }
  });
  setHandler(payUpdate, async () => {
    await condition(() => paid || paymentError !== undefined);
    if (paymentError) throw paymentError;
    return paidPacketOf(input);
  });

  const publish = createPublisher(view, waiting);

  if (!paid) {
    try {
      // Only a run's first workflow task pays, so the patch marker is written there or not at all.
      const pay = patched(LOCAL_PAYMENT_PATCH) ? localPayment.payPacket : payment.payPacket;
      const result = await pay(input);
      paid = true;
      if (!result.armed) void gate.armPacketGate(input.packetId).catch(() => undefined);
    } catch (err) {
      // A remote activity's refusal arrives wrapped in an ActivityFailure; a local activity's as itself.
      const cause = err instanceof ActivityFailure ? err.cause : err;
      if (cause instanceof ApplicationFailure && cause.type && PAYMENT_REFUSALS.has(cause.type)) {
        paymentError = ApplicationFailure.create({
          message: cause.message,
          type: cause.type,
          nonRetryable: true,
        });
        publish('FAILED');
        await condition(allHandlersFinished);
        throw paymentError;
      }
      throw err;
    }
  }
  // A run continued while settling or waiting for owed credits goes back to that (closeThenAwaitCredits).
  const resumed = carried?.phase === 'SETTLING' || carried?.phase === 'CLOSED';
  publish(resumed ? carried.phase : 'OPEN');

  const creditWithTracking = createCreditTracker({ input, view, waiting, publish });

  const settled = (ids: string[], fen: number) => {
    for (const id of ids) {
      waiting.delete(id);
      credited.add(id);
    }
    view.creditedCount += ids.length;
    view.creditedFen += fen;
  };

  if (patched(CREDIT_PUMP_PATCH)) return awaitPumpThenSettle();

  const sweepBaseMs = input.sweep?.baseMs ?? SWEEP_BASE_MS;
  const sweepMaxMs = input.sweep?.maxMs ?? SWEEP_MAX_MS;
  let sweepMs = sweepBaseMs;
  let seenWakeups = 0;
  for (;;) {
    const untilExpiryMs = input.expiresAtMs - Date.now();
    if (untilExpiryMs <= 0) break;
    const woken = await condition(() => wakeups > seenWakeups, Math.min(sweepMs, untilExpiryMs));
    if (!woken) {
      if (Date.now() >= input.expiresAtMs) break;
      // A quiet sweep: one local activity; a full wave only when Postgres shows an unsignalled claim.
      const { uncreditedCount } = await creditWithTracking(() => sweep.pendingCredits(input.packetId));
      sweepMs = Math.min(sweepMs * 2, sweepMaxMs);
      if (uncreditedCount === 0) continue;
    } else {
      sweepMs = sweepBaseMs;
    }
    seenWakeups = wakeups;
    view.waves++;
    const wave = await creditWithTracking(() => settlement.creditClaims(input.packetId));
    settled(wave.creditedClaimIds, wave.creditedFen);
    if (wave.finished) {
      view.refundFen = 0;
      publish('FINISHED');
      return finish();
    }
    // Claims committed while the wave ran are credited at once rather than after the next signal.
    if (wave.uncreditedCount > 0) wakeups++;
    publish('OPEN');
    if (workflowInfo().historyLength > HISTORY_EVENTS_BEFORE_CONTINUE) {
      await condition(allHandlersFinished);
      return continueAsNew<typeof packetWorkflow>(input, {
        ...view,
        waiting: [...waiting.values()],
        creditedIds: [...credited],
      });
    }
  }

  publish('SETTLING');
  const result = await creditWithTracking(() => settlement.settlePacket(input.packetId));
  settled(result.creditedClaimIds, result.creditedFen);
  view.refundFen = result.refundFen;
  publish('FINISHED');
  return finish();

  /**
   * The credit pumps credit this packet's claims; the workflow only waits for the pump's "all credited"
   * or the expiry timer, then settles. Its history stays a few dozen events whatever its share count.
   */
  async function awaitPumpThenSettle(): Promise<PacketResult> {
    let allCredited = false;
    setHandler(allCreditedSignal, () => {
      allCredited = true;
    });
    // The pump's last report of this packet's stuck credits (carried across continue-as-new in `waiting`);
    // a successful settlement does not clear it.
    let health: StuckCredit[] = [...waiting.values()].map((claim) => ({
      claimId: claim.claimId,
      userId: claim.userId,
      amountFen: claim.amountFen,
      sinceMs: claim.sinceMs,
      lastError: claim.lastError ?? '',
    }));
    const applyHealth = () => {
      waiting.clear();
      for (const claim of health) waiting.set(claim.claimId, { ...claim, openedAtMs: claim.sinceMs });
      view.creditStuck = health.length > 0;
      view.failingSinceMs = health.length > 0 ? Math.min(...health.map((claim) => claim.sinceMs)) : null;
      view.lastError = health[0]?.lastError ?? null;
    };
    setHandler(creditHealthSignal, ({ stuck }) => {
      health = stuck;
      applyHealth();
      publish(view.phase);
    });
    // Asked before the wait, so that the marker sits where a packet started by older code has none.
    const leavesOwed = patched(SETTLE_LEAVES_OWED_PATCH);
    const untilExpiryMs = input.expiresAtMs - Date.now();
    if (!resumed && untilExpiryMs > 0) await condition(() => allCredited, untilExpiryMs);
    if (leavesOwed) return closeThenAwaitCredits();
    publish('SETTLING');
    const result = await creditWithTracking(() => settleLocally.settlePacket(input.packetId));
    // The pump credited most claims; the packet's totals come from Postgres.
    view.creditedCount = result.claimedCount;
    view.creditedFen = result.claimedFen;
    view.refundFen = result.refundFen;
    waiting.clear();
    publish('FINISHED');
    return finish();

    /**
     * Refunds at once and leaves owed credits to the pumps; then, while any is owed, waits for the pump's
     * "all credited" with a rare re-check (backing off like the legacy sweep, SWEEP_BASE_MS to SWEEP_MAX_MS)
     * in case that signal or the pump's "finished" mark was lost: closeAndRefund finishes a packet that
     * owes nothing. CreditStuck keeps coming from the pump's creditHealth signal. The history stays bounded
     * however long a credit or the settlement itself keeps failing: continue-as-new past the budget.
     */
    async function closeThenAwaitCredits(): Promise<PacketResult> {
      const recheckBaseMs = input.sweep?.baseMs ?? SWEEP_BASE_MS;
      const recheckMaxMs = input.sweep?.maxMs ?? SWEEP_MAX_MS;
      let recheckMs = recheckBaseMs;
      if (view.refundFen === null) publish('SETTLING');
      for (;;) {
        // Cleared before the look at Postgres, so a signal sent while it runs leads to another look.
        allCredited = false;
        const result = await creditWithTracking(
          () => settleLocally.closeAndRefund(input.packetId),
          continueIfLong,
        );
        view.creditedCount = result.claimedCount - result.owedCount;
        view.creditedFen = result.claimedFen - result.owedFen;
        view.refundFen = result.refundFen;
        if (result.finished) {
          waiting.clear();
          publish('FINISHED');
          return finish();
        }
        // creditWithTracking cleared its own failure on success; what the pump reported still stands.
        applyHealth();
        publish('CLOSED');
        const heard = await condition(() => allCredited, recheckMs);
        recheckMs = heard ? recheckBaseMs : Math.min(recheckMs * 2, recheckMaxMs);
        await continueIfLong();
      }
    }
  }

  /** A fresh run once Temporal suggests it or the history passes the budget, carrying what was learnt. */
  async function continueIfLong(): Promise<void> {
    const info = workflowInfo();
    const budget = input.historyMaxEvents ?? HISTORY_EVENTS_BEFORE_CONTINUE;
    if (!info.continueAsNewSuggested && info.historyLength <= budget) return;
    await condition(allHandlersFinished);
    await continueAsNew<typeof packetWorkflow>(input, {
      ...view,
      waiting: [...waiting.values()],
      creditedIds: [...credited],
    });
  }

  async function finish(): Promise<PacketResult> {
    await condition(allHandlersFinished);
    return {
      packetId: input.packetId,
      creditedCount: view.creditedCount,
      creditedFen: view.creditedFen,
      refundFen: view.refundFen ?? 0,
    };
  }
}
