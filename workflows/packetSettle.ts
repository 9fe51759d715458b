/**
 * The packet workflow after its payment: wait for the pump's "all credited" or the expiry timer, then
 * settle. Packets started since `SETTLE_LEAVES_OWED_PATCH` refund at once and leave owed credits to the
 * pumps (closeThenAwaitCredits); packets started before it credit what remains and refund in one step
 * (`settlePacket`). Deterministic workflow code, like packet.ts.
 */
import {
  allHandlersFinished,
  condition,
  continueAsNew,
  patched,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import {
  allCreditedSignal,
  creditHealthSignal,
  type PacketInput,
  type PacketResult,
  type PacketView,
  type StuckCredit,
  type WaitingCredit,
} from '../saga';
import type { packetWorkflow } from './packet';
import { settleLocally } from './packetActivities';
import type { createCreditTracker, Publish } from './packetRun';
import { SETTLE_LEAVES_OWED_PATCH } from './patches';

/** Re-checking a closed packet that still owes credits: doubling while no signal arrives, up to the cap. */
export const RECHECK_BASE_MS = 60_000;
export const RECHECK_MAX_MS = 80 * 60_000;
/** Far below the server's limits; a packet that keeps failing to settle starts a fresh run here. */
const HISTORY_EVENTS_BEFORE_CONTINUE = 4_000;

export interface SettleRun {
  input: PacketInput;
  view: PacketView;
  waiting: Map<string, WaitingCredit>;
  publish: Publish;
  creditWithTracking: ReturnType<typeof createCreditTracker>;
  /** This run continued one that was settling or waiting for owed credits: it skips the wait. */
  resumed: boolean;
}

/**
 * The credit pumps credit this packet's claims; the workflow only waits for the pump's "all credited"
 * or the expiry timer, then settles. Its history stays a few dozen events whatever its share count.
 */
export async function awaitPumpThenSettle(run: SettleRun): Promise<PacketResult> {
  const { input, view, waiting, publish, creditWithTracking } = run;
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
  if (!run.resumed && untilExpiryMs > 0) await condition(() => allCredited, untilExpiryMs);
  if (leavesOwed) return closeThenAwaitCredits();
  publish('SETTLING');
  const result = await creditWithTracking(() => settleLocally.settlePacket(input.packetId));
  // The pump credited most claims; the packet's totals come from Postgres.
  view.creditedCount = result.claimedCount;
  view.creditedFen = result.claimedFen;
  view.refundFen = result.refundFen;
  waiting.clear();
  publish('FINISHED');
  return finish(run);

  /**
   * Refunds at once and leaves owed credits to the pumps; then, while any is owed, waits for the pump's
   * "all credited" with a rare re-check (RECHECK_BASE_MS to RECHECK_MAX_MS) in case that signal or the
   * pump's "finished" mark was lost: closeAndRefund finishes a packet that owes nothing. CreditStuck keeps
   * coming from the pump's creditHealth signal. The history stays bounded however long a credit or the
   * settlement itself keeps failing: continue-as-new past the budget.
   */
  async function closeThenAwaitCredits(): Promise<PacketResult> {
    const recheckBaseMs = input.sweep?.baseMs ?? RECHECK_BASE_MS;
    const recheckMaxMs = input.sweep?.maxMs ?? RECHECK_MAX_MS;
    let recheckMs = recheckBaseMs;
    if (view.refundFen === null) publish('SETTLING');
    for (;;) {
      // Cleared before the look at Postgres, so a signal sent while it runs leads to another look.
      allCredited = false;
      const result = await creditWithTracking(
        () => settleLocally.closeAndRefund(input.packetId),
        () => continueIfLong(run),
      );
      view.creditedCount = result.claimedCount - result.owedCount;
      view.creditedFen = result.claimedFen - result.owedFen;
      view.refundFen = result.refundFen;
      if (result.finished) {
        waiting.clear();
        publish('FINISHED');
        return finish(run);
      }
      // creditWithTracking cleared its own failure on success; what the pump reported still stands.
      applyHealth();
      publish('CLOSED');
      const heard = await condition(() => allCredited, recheckMs);
      recheckMs = heard ? recheckBaseMs : Math.min(recheckMs * 2, recheckMaxMs);
      await continueIfLong(run);
    }
  }
}

/** A fresh run once Temporal suggests it or the history passes the budget, carrying what was learnt. */
async function continueIfLong({ input, view, waiting }: SettleRun): Promise<void> {
  const info = workflowInfo();
  const budget = input.historyMaxEvents ?? HISTORY_EVENTS_BEFORE_CONTINUE;
  if (!info.continueAsNewSuggested && info.historyLength <= budget) return;
  await condition(allHandlersFinished);
  await continueAsNew<typeof packetWorkflow>(input, { ...view, waiting: [...waiting.values()] });
}

async function finish({ input, view }: SettleRun): Promise<PacketResult> {
  await condition(allHandlersFinished);
  return {
    packetId: input.packetId,
    creditedCount: view.creditedCount,
    creditedFen: view.creditedFen,
    refundFen: view.refundFen ?? 0,
  };
}
