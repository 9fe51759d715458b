/**
 * The credit path's health as the reconciler reports it (docs/reconciliation.md): credits set aside longer
 * than the stuck threshold, and shards whose pump leaves claims waiting longer than the lag budget. Read
 * only; the pumps keep their own CreditStuck marks (packets/creditHealth.ts).
 */
import type { Queryable } from '../../db';
import { SHARD_HASH_SQL } from './credits';

/** Lines per check in the report; the rest are counted. */
const HEALTH_LINES_MAX = 20;

export interface HealthLines {
  details: string[];
  total: number;
}

/** Set-aside claims failing for longer than `stuckAfterMs` (the same threshold as CreditStuck). */
export async function stuckCredits(db: Queryable, stuckAfterMs: number): Promise<HealthLines> {
  const { rows } = await db.query<{ detail: string; total: number }>(
    `SELECT format('claim %s (packet %s, user %s, %s fen) has failed to credit since %s, %s attempts: %s',
                   f.claim_id, f.packet_id, c.user_id, c.amount_fen, f.first_failed_at, f.attempts,
                   f.last_error) AS detail,
            count(*) OVER ()::int AS total
       FROM credit_failures f JOIN claims c ON c.day = day_of_id(f.claim_id) AND c.id = f.claim_id
      WHERE c.credited_at IS NULL
        AND f.first_failed_at <= clock_timestamp() - $1::bigint * interval '1 millisecond'
      ORDER BY f.first_failed_at, f.claim_id LIMIT $2`,
    [stuckAfterMs, HEALTH_LINES_MAX],
  );
  return { details: rows.map((row) => row.detail), total: rows[0]?.total ?? 0 };
}

/**
 * Shards whose oldest uncredited claim, not set aside, has waited longer than `lagMs`: their pump is not
 * keeping up or not running. Reads the pumps' own queue index (claims_credit_queue).
 */
export async function laggingShards(db: Queryable, shards: number, lagMs: number): Promise<HealthLines> {
  const { rows } = await db.query<{ detail: string }>(
    `SELECT format('credit pump shard %s: %s claims waiting, the oldest for %s', shard, backlog,
                   date_trunc('second', clock_timestamp() - oldest_at)) AS detail
       FROM (SELECT ${SHARD_HASH_SQL('c.packet_id')} % $1 AS shard, count(*) AS backlog,
                    min(c.created_at) AS oldest_at
               FROM claims c
              WHERE c.credited_at IS NULL
                AND NOT EXISTS (SELECT 1 FROM credit_failures f WHERE f.claim_id = c.id)
              GROUP BY 1) AS shards
      WHERE oldest_at < clock_timestamp() - $2::bigint * interval '1 millisecond'
      ORDER BY shard`,
    [shards, lagMs],
  );
  return { details: rows.map((row) => row.detail), total: rows.length };
}
