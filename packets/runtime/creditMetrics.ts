/**
 * Credit figures from Postgres, the truth: the number of claims still waiting for credit, and the
 * open-to-credit lag of every claim credited since the last read. A scrape must cost the database nothing
 * that grows with the tables (issue 24: it used to scan `claims` on every call, with no token and no
 * limit), so:
 *
 * - the figures are read at most once per `refreshMs` per process, however often `/metrics` is called
 *   (concurrent scrapes share one read); in between a scrape only renders what the last read found;
 * - every statement is an index read bounded by a constant: the lag follows the ledger's `seq` (its unique
 *   index) from a watermark, at most MAX_TRANSFERS_PER_READ transfers a read, each claim found by its
 *   primary key; pending credits are counted through the uncredited-claims partial index, up to
 *   PENDING_COUNT_MAX (the gauge then reads that cap, which says "a huge backlog" well enough).
 *
 * A credit whose transaction commits after a read passed its seq is not observed (a lost lag sample, never a
 * wrong one). Every replica reads the same rows, so scrape these figures from one replica, or divide.
 */
import type { Db } from '../../db';

export const MAX_TRANSFERS_PER_READ = 10_000;
export const PENDING_COUNT_MAX = 100_000;

export interface CreditMetricSinks {
  setPending(count: number): void;
  observeLagSeconds(seconds: number): void;
}

export function createCreditMetricsCollector(
  db: Db,
  sinks: CreditMetricSinks,
  options: { refreshMs: number },
): () => Promise<void> {
  // Lag is reported for credits made while this process runs: the first read only finds where the ledger is.
  let watermarkSeq: number | undefined;
  let lastReadMs = -Infinity;
  let reading: Promise<void> | undefined;

  async function read(): Promise<void> {
    const pending = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM (SELECT 1 FROM claims WHERE credited_at IS NULL LIMIT $1) uncredited',
      [PENDING_COUNT_MAX],
    );
    sinks.setPending(pending.rows[0]?.n ?? 0);
    if (watermarkSeq === undefined) {
      const { rows } = await db.query<{ seq: number }>(
        'SELECT coalesce(max(seq), 0)::bigint AS seq FROM transfers',
      );
      watermarkSeq = rows[0]?.seq ?? 0;
      return;
    }
    // The claim's open time by a subquery on its primary key, so the plan cannot turn into a join over claims.
    const { rows } = await db.query<{ seq: number; lag_s: number | null }>(
      `SELECT t.seq, CASE WHEN t.kind = 'credit' THEN extract(epoch FROM t.created_at -
         (SELECT c.created_at FROM claims c WHERE c.day = t.day AND c.id = t.claim_id))::float8 END AS lag_s
       FROM transfers t WHERE t.seq > $1 ORDER BY t.seq LIMIT ${MAX_TRANSFERS_PER_READ}`,
      [watermarkSeq],
    );
    for (const row of rows) if (row.lag_s !== null) sinks.observeLagSeconds(row.lag_s);
    const last = rows.at(-1);
    if (last) watermarkSeq = last.seq;
  }

  return () => {
    if (reading) return reading;
    if (Date.now() - lastReadMs < options.refreshMs) return Promise.resolve();
    lastReadMs = Date.now();
    reading = read().finally(() => {
      reading = undefined;
    });
    return reading;
  };
}
