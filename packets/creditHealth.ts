/**
 * Telling packet workflows about their stuck credits (CreditStuck, docs/credit-pump.md). A report counts as
 * sent only once the workflow has it: the set-aside rows are marked reported after the signal was delivered,
 * so a lost signal is sent again at the pump's next stuck check instead of never.
 */
import type { Client } from '@temporalio/client';
import type { Queryable } from '../db';
import { PACKET_WORKFLOW_ID_PREFIX, type StuckCredit } from '../saga';
import { markStuckReported, stuckClaimsOf } from './store/creditFailures';

/** Delivers a packet's stuck credits to its workflow; false when they may not have arrived. */
export type StuckSignaller = (packetId: string, stuck: StuckCredit[]) => Promise<boolean>;

/** For each packet: its stuck credits now (an empty list clears CreditStuck), then the mark once delivered. */
export async function reportStuckCredits(
  db: Queryable,
  stuckAfterMs: number,
  packetIds: Iterable<string>,
  signal: StuckSignaller,
): Promise<void> {
  for (const packetId of packetIds) {
    const rows = await stuckClaimsOf(db, packetId, stuckAfterMs);
    const stuck = rows.map(({ claimId, userId, amountFen, sinceMs, lastError }) => ({
      claimId,
      userId,
      amountFen,
      sinceMs,
      lastError,
    }));
    if (await signal(packetId, stuck)) {
      await markStuckReported(
        db,
        packetId,
        rows.map((row) => row.claimId),
      );
    }
  }
}

/** Flags looked at per reconcile run: a flag left behind is rare, and each costs its workflow a wake-up. */
export const STALE_FLAGS_PER_RUN = 100;

/**
 * Packets whose running workflow still shows CreditStuck while Postgres holds no stuck credit of theirs:
 * the "all through" report (an empty list) was sent and lost, and no later check would send it again,
 * since nothing of the packet is set aside any more. Each is told again, which clears its flag. Packets
 * still holding stuck credits are left alone: their workflow already has them, and the pump re-sends on
 * every change. Returns the packets told.
 */
export async function clearStaleStuckFlags(
  db: Queryable,
  client: Client,
  taskQueue: string,
  stuckAfterMs: number,
  signal: StuckSignaller,
): Promise<string[]> {
  // The task queue keeps the list to this cell's packets where deployments (or test files) share a namespace.
  const query =
    `WorkflowId STARTS_WITH "${PACKET_WORKFLOW_ID_PREFIX}" AND CreditStuck = true ` +
    `AND ExecutionStatus = "Running" AND TaskQueue = "${taskQueue}"`;
  const flagged: string[] = [];
  for await (const info of client.workflow.list({ query, pageSize: STALE_FLAGS_PER_RUN })) {
    flagged.push(info.workflowId.slice(PACKET_WORKFLOW_ID_PREFIX.length));
    if (flagged.length >= STALE_FLAGS_PER_RUN) break;
  }
  const cleared: string[] = [];
  for (const packetId of flagged) {
    if ((await stuckClaimsOf(db, packetId, stuckAfterMs)).length > 0) continue;
    if (await signal(packetId, [])) cleared.push(packetId);
  }
  return cleared;
}
