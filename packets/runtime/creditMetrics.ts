/**
 * Credit figures come from Postgres, the truth, at scrape time: the number of claims still waiting for
 * credit, and the open-to-credit lag of every claim credited since the previous scrape (bounded per scrape).
 * Every replica reads the same rows, so scrape these figures from one replica, or divide by the count.
 */
import type { Db } from '../../db';

const MAX_CLAIMS_PER_SCRAPE = 10_000;

export interface CreditMetricSinks {
  setPending(count: number): void;
  observeLagSeconds(seconds: number): void;
}

export function createCreditMetricsCollector(db: Db, sinks: CreditMetricSinks): () => Promise<void> {
  // Starts at "now": lag is reported for credits made while this process runs.
  let watermark = new Date();
  return async () => {
    const pending = await db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM claims WHERE credited_at IS NULL',
    );
    sinks.setPending(pending.rows[0]?.n ?? 0);
    const { rows } = await db.query<{ lag_s: number; credited_at: Date }>(
      `SELECT extract(epoch FROM credited_at - created_at)::float8 AS lag_s, credited_at
       FROM claims WHERE credited_at > $1 ORDER BY credited_at LIMIT ${MAX_CLAIMS_PER_SCRAPE}`,
      [watermark],
    );
    for (const row of rows) sinks.observeLagSeconds(row.lag_s);
    const last = rows.at(-1);
    if (last) watermark = last.credited_at;
  };
}
