/**
 * Telling packet workflows about their stuck credits (CreditStuck, docs/credit-pump.md). A report counts as
 * sent only once the workflow has it: the set-aside rows are marked reported after the signal was delivered,
 * so a lost signal is sent again at the pump's next stuck check instead of never.
 */
import type { Queryable } from '../db';
import type { StuckCredit } from '../saga';
import { markStuckReported, stuckClaimsOf } from './store/credits';

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
