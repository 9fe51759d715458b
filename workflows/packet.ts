/**
 * One workflow per packet, id `packet-<packetId>`: pay, then wait for "all credited" (from the credit pumps)
 * or the expiry timer, then settle (workflows/packetSettle.ts); a few dozen events whatever the share count.
 * The open path sends the workflow nothing: the claim row in Postgres is the credit message.
 *
 * Versioning (workflows/patches.ts, docs/saga.md "Changing the workflow"): 'credit-pump' and 'local-payment'
 * are deprecated patches; every packet that could take the paths they guarded (per-packet credit waves, a payment in a
 * remote activity) finished before their code was removed, and the deprecatePatch calls stay until no
 * running workflow was started without them. 'settle-leaves-owed' is live: packets started before it still
 * settle by crediting every claim themselves (packetSettle.ts).
 */
import {
  ActivityFailure,
  ApplicationFailure,
  allHandlersFinished,
  condition,
  deprecatePatch,
  setHandler,
} from '@temporalio/workflow';
import {
  freshPacketView,
  packetViewQuery,
  paidPacketOf,
  payUpdate,
  type PacketInput,
  type PacketResult,
  type PacketView,
  type WaitingCredit,
} from '../saga';
import { gate, localPayment, PAYMENT_REFUSALS } from './packetActivities';
import { createCreditTracker, createPublisher } from './packetRun';
import { awaitPumpThenSettle } from './packetSettle';
import { CREDIT_PUMP_PATCH, LOCAL_PAYMENT_PATCH } from './patches';

export async function packetWorkflow(input: PacketInput, carried?: PacketView): Promise<PacketResult> {
  const view: PacketView = carried ?? freshPacketView(input);
  const waiting = new Map<string, WaitingCredit>(view.waiting.map((claim) => [claim.claimId, claim]));
  let paymentError: ApplicationFailure | undefined;
  let paid = carried !== undefined;

  setHandler(packetViewQuery, () => ({ ...view, waiting: [...waiting.values()] }));
  setHandler(payUpdate, async () => {
    await condition(() => paid || paymentError !== undefined);
    if (paymentError) throw paymentError;
    return paidPacketOf(input);
  });

  const publish = createPublisher(view, waiting);

  if (!paid) {
    try {
      // Only a run's first workflow task pays, so the marker is written there or not at all; a deprecated
      // patch still writes it, so that histories recorded before the deprecation keep matching.
      deprecatePatch(LOCAL_PAYMENT_PATCH);
      const result = await localPayment.payPacket(input);
      paid = true;
      if (!result.armed) void gate.armPacketGate(input.packetId).catch(() => undefined);
    } catch (err) {
      // The refusal may arrive wrapped in an ActivityFailure; the update answers with the refusal itself.
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
  // Where patched(CREDIT_PUMP_PATCH) chose between the pump and the waves, in every run.
  deprecatePatch(CREDIT_PUMP_PATCH);
  return awaitPumpThenSettle({ input, view, waiting, publish, creditWithTracking, resumed });
}
