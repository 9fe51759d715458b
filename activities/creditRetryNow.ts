/**
 * Retry now (saga/retryNow.ts): the activity behind a credit pump's `retryNow` update. It checks that the
 * packet named (if any) is one of this cell's and of this pump's shard, makes the set-aside claims due in one
 * statement, wakes the shard's running pump activity with a NOTIFY in the same transaction (delivered at
 * commit, so the pump never wakes before the claims are due), and then watches the set-aside list for a few
 * seconds to answer what became of them. It credits nothing itself: the pump's own transaction does, so
 * every claim is credited exactly once whoever asks how often.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { CreditSettings } from '../config';
import type { Db } from '../db';
import { cellOfPacketId } from '../domain/cells';
import type { CellTopology } from '../packets/store/clearing';
import {
  makeSetAsideDue,
  packetShardHash,
  setAsideSince,
  type RetryScope,
} from '../packets/store/creditFailures';
import { shardOfHash } from '../packets/store/credits';
import { creditPumpWorkflowId, PACKET_WORKFLOW_ID_PREFIX, type RetryNowOutcome } from '../saga';
import { creditChannel, retryNowPayload } from './credit';

/**
 * How long the request watches the claims it made due before it answers. The pump takes them at once (20 a
 * pass, passes back to back while they go through), so a fixed cause answers in well under a second; a pump
 * that is busy or down leaves them due, and the answer says how many.
 */
export const RETRY_NOW_WATCH_MS = 5_000;
const RETRY_NOW_LOOK_INTERVAL_MS = 50;

export function createCreditRetryActivities(deps: {
  db: Db;
  credit: CreditSettings;
  cells?: CellTopology | undefined;
}) {
  const { db, credit, cells } = deps;

  /** A refusal the operator can act on; not retried, since asking again gives the same answer. */
  const refuse = (message: string) => ApplicationFailure.nonRetryable(message, 'RetryNowRefused');

  async function checkPacket(packetId: string, shard: number): Promise<void> {
    const cell = cellOfPacketId(packetId);
    if (cells && cell !== undefined && cell !== cells.self && cells.all.includes(cell))
      throw refuse(`packet ${packetId} is cell ${cell}'s; ask the credit pumps of cell ${cell}`);
    const hash = await packetShardHash(db, packetId);
    if (hash === undefined) {
      const hint = packetId.startsWith(PACKET_WORKFLOW_ID_PREFIX)
        ? ` (give the packet id, without the "${PACKET_WORKFLOW_ID_PREFIX}" of its workflow id)`
        : '';
      throw refuse(`no packet ${packetId} in this cell${hint}`);
    }
    const owner = shardOfHash(hash, credit.shards);
    if (owner !== shard)
      throw refuse(
        `packet ${packetId} is in shard ${owner} of ${credit.shards}: ask ` +
          `${creditPumpWorkflowId(credit.pumpIdPrefix, owner)}, not this pump (shard ${shard})`,
      );
  }

  return {
    /** Makes the set-aside claims of a shard (or of one packet in it) due now, wakes the pump, reports. */
    async retrySetAsideNow(input: { shard: number; packetId?: string }): Promise<RetryNowOutcome> {
      const packetId = input.packetId ?? null;
      if (packetId !== null) await checkPacket(packetId, input.shard);
      const scope: RetryScope = { shard: input.shard, shards: credit.shards, packetId };
      const startedMs = Date.now();
      const { madeDue, dueAt } = await db.withTransaction(async (tx) => {
        const made = await makeSetAsideDue(tx, scope);
        if (made.madeDue > 0)
          await tx.query('SELECT pg_notify($1, $2)', [
            creditChannel(db.schema),
            retryNowPayload(input.shard),
          ]);
        return made;
      });
      let left = { stillDue: madeDue, failedAgain: 0, lastError: null as string | null };
      while (madeDue > 0 && Date.now() - startedMs < RETRY_NOW_WATCH_MS) {
        await new Promise((r) => setTimeout(r, RETRY_NOW_LOOK_INTERVAL_MS));
        left = await setAsideSince(db, scope, dueAt);
        if (left.stillDue === 0) break;
      }
      return {
        shard: input.shard,
        packetId,
        madeDue,
        credited: Math.max(0, madeDue - left.stillDue - left.failedAgain),
        failedAgain: left.failedAgain,
        stillDue: left.stillDue,
        lastError: left.lastError,
        watchedMs: Date.now() - startedMs,
      };
    },
  };
}
