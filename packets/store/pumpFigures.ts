/**
 * A credit pump's own figures for its gauges (docs/operators.md): read by the pump every few seconds, never
 * by a scrape, and each bounded by a constant so a huge backlog costs a read the same as a small one.
 */
import type { Queryable } from '../../db';
import { IN_SHARD_SQL, QUEUED_CLAIM_SQL, queueDayBounds, shardHashRange, type QueueSlice } from './credits';

/** Counts stop here: past it the gauge reads the cap, which says "far too many" well enough. */
export const PUMP_FIGURES_COUNT_MAX = 100_000;

export interface PumpFigures {
  /** Uncredited claims of the shard, set-aside ones included, up to PUMP_FIGURES_COUNT_MAX. */
  backlog: number;
  /** Seconds the oldest claim the pump would pick next has waited; 0 with nothing queued. */
  oldestUncreditedAgeSeconds: number;
  /** Claims set aside after a failed credit, waiting for their retry. */
  setAside: number;
  /** Set-aside claims failing for longer than CREDIT_STUCK_AFTER_MS (CreditStuck), and their packets. */
  stuckClaims: number;
  stuckPackets: number;
}

/**
 * One statement, each part bounded: the backlog counts through the uncredited-claims partial index up to
 * the cap; the oldest age is a top-1 read down the pump's own queue index (claims_credit_queue), in the
 * queue's days, as the batch reads it; the set-aside counts read `credit_failures`, which holds only
 * failing claims (empty when all is well) and are capped too.
 */
export async function readPumpFigures(
  db: Queryable,
  slice: Pick<QueueSlice, 'shard' | 'shards' | 'queueDays'>,
  stuckAfterMs: number,
): Promise<PumpFigures> {
  const { rows } = await db.query<{
    backlog: number;
    oldest_s: number | null;
    set_aside: number;
    stuck_claims: number;
    stuck_packets: number;
  }>(
    `WITH failing AS (
       SELECT f.packet_id,
              f.first_failed_at <= clock_timestamp() - make_interval(secs => $4::float8 / 1000) AS stuck
         FROM credit_failures f WHERE ${IN_SHARD_SQL('f.packet_id', '$1', '$2')} LIMIT $3)
     SELECT
       (SELECT count(*) FROM (SELECT 1 FROM claims c
          WHERE c.credited_at IS NULL AND ${IN_SHARD_SQL('c.packet_id', '$1', '$2')} LIMIT $3) queued)::int
         AS backlog,
       (SELECT extract(epoch FROM clock_timestamp() - c.created_at)::float8 FROM claims c
          WHERE ${QUEUED_CLAIM_SQL} ORDER BY c.created_at, c.id LIMIT 1) AS oldest_s,
       (SELECT count(*) FROM failing)::int AS set_aside,
       (SELECT count(*) FROM failing WHERE stuck)::int AS stuck_claims,
       (SELECT count(DISTINCT packet_id) FROM failing WHERE stuck)::int AS stuck_packets`,
    [...shardHashRange(slice), PUMP_FIGURES_COUNT_MAX, stuckAfterMs, ...queueDayBounds(slice.queueDays)],
  );
  const row = rows[0];
  return {
    backlog: row?.backlog ?? 0,
    oldestUncreditedAgeSeconds: Math.max(0, row?.oldest_s ?? 0),
    setAside: row?.set_aside ?? 0,
    stuckClaims: row?.stuck_claims ?? 0,
    stuckPackets: row?.stuck_packets ?? 0,
  };
}
