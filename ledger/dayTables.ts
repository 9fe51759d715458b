/**
 * Upkeep of the day partitions (docs/day-tables.md). packets, claims and transfers have one partition per
 * day and no default partition, so a day without one refuses its rows. The reconcile schedule's runs
 * (activities/reconcile.ts) create the coming days ahead of time, and two places raise the alarm long before
 * a day is missing: the run's report (`day_partitions_short`) and /readyz (`degraded: ["day_partitions"]`),
 * which keeps answering even when the schedule itself is paused or its worker is gone.
 */
import type { Queryable } from '../db';

/** Days after today (UTC) that each upkeep run makes sure exist. */
export const DAY_PARTITIONS_AHEAD_DAYS = 7;
/** Fewer whole days ahead than this is an alarm: the upkeep has missed runs for days. */
export const DAY_PARTITIONS_ALARM_DAYS = 2;
/** How far the check looks: more than this many days ahead reads as this many. */
const LOOK_AHEAD_DAYS = 60;

const TODAY_UTC_SQL = `(now() AT TIME ZONE 'UTC')::date`;

/** Creates any missing partition from yesterday to `aheadDays` after today; returns how many it created. */
export async function ensureDayPartitions(
  db: Queryable,
  aheadDays: number = DAY_PARTITIONS_AHEAD_DAYS,
): Promise<number> {
  if (!Number.isSafeInteger(aheadDays) || aheadDays < 0 || aheadDays > 366)
    throw new RangeError(`aheadDays must be 0..366, not ${aheadDays}`);
  const { rows } = await db.query<{ created: number }>(
    `SELECT ensure_day_partitions(${TODAY_UTC_SQL} - 1, ${TODAY_UTC_SQL} + $1::int) AS created`,
    [aheadDays],
  );
  return rows[0]?.created ?? 0;
}

/**
 * Refreshes the planner's statistics of today's and yesterday's partitions, the ones traffic fills. A day's
 * partitions are created (and analysed, empty) days ahead; filled within minutes by a storm, they read as
 * nearly empty until autovacuum's next look, and the reconciliation's audit, joining them whole, got nested
 * loops over them: seconds of Postgres CPU a run on a two-core machine, taken from the opens. ANALYZE
 * samples a bounded number of rows however large the day, so a run pays a bounded cost.
 */
export async function analyzeRecentDays(db: Queryable, nowMs: number = Date.now()): Promise<void> {
  const keys = [0, 1].map((back) =>
    new Date(nowMs - back * 86_400_000).toISOString().slice(0, 10).replace(/-/g, ''),
  );
  const { rows } = await db.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_class c
      WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY($1::text[])`,
    [keys.flatMap((key) => ['packets', 'claims', 'transfers'].map((table) => `${table}_${key}`))],
  );
  if (rows.length > 0) await db.query(`ANALYZE ${rows.map((row) => `"${row.name}"`).join(', ')}`);
}

export interface DayPartitionHealth {
  /** Whole days after today with partitions of every day table, today included: -1 when today has none. */
  daysAhead: number;
  /** The last day covered without a gap (YYYY-MM-DD), or null when today is not. */
  coveredThrough: string | null;
  ok: boolean;
}

/** How far ahead every day table has partitions, from the catalog (no table is read). */
export async function dayPartitionHealth(
  db: Queryable,
  alarmDays: number = DAY_PARTITIONS_ALARM_DAYS,
): Promise<DayPartitionHealth> {
  const { rows } = await db.query<{ first_missing: number }>(
    `SELECT coalesce(min(i), $1::int + 1)::int AS first_missing
       FROM generate_series(0, $1::int) AS i
      WHERE EXISTS (SELECT 1 FROM unnest(ARRAY['packets', 'claims', 'transfers']) AS t
                     WHERE to_regclass(quote_ident(current_schema()) || '.' ||
                                       quote_ident(t || '_' || to_char(${TODAY_UTC_SQL} + i, 'YYYYMMDD'))) IS NULL)`,
    [LOOK_AHEAD_DAYS],
  );
  const daysAhead = (rows[0]?.first_missing ?? 0) - 1;
  const coveredThrough =
    daysAhead < 0 ? null : new Date(Date.now() + daysAhead * 86_400_000).toISOString().slice(0, 10);
  return { daysAhead, coveredThrough, ok: daysAhead >= alarmDays };
}

/** The report line of a shortfall, or none. */
export function dayPartitionAlarm(health: DayPartitionHealth): string[] {
  if (health.ok) return [];
  return [
    health.coveredThrough === null
      ? 'no partition for today: rows of today are refused until the upkeep runs (ensure_day_partitions)'
      : `day partitions exist only through ${health.coveredThrough} (${health.daysAhead} days ahead, ` +
        `the upkeep keeps ${DAY_PARTITIONS_AHEAD_DAYS}): is the reconcile schedule paused?`,
  ];
}
