/**
 * Cold days (docs/day-tables.md, "Cold days"): a settled day older than the hot window leaves the live tables.
 * The reconcile schedule's runs (activities/reconcile.ts) call `runColdDays`, as they call the partitions'
 * upkeep. For each such day, oldest first:
 *
 * 1. `cold_day_blockers` looks without locks; a day not settled is reported and left alone.
 * 2. `freeze_cold_day` checks again under an exclusive lock on the day's partitions and makes them refuse
 *    every change, so the day's money can no longer move.
 * 3. `snapshot_cold_day`, one transaction: each account's money in and out of the day, and the day's row in
 *    cold_days, which takes the day out of the live tables for every reader that counts money.
 * 4. ledger/coldArchive.ts detaches the three partitions (CONCURRENTLY), moves them into the archive schema,
 *    and `mark_day_archived` checks them against the snapshot before calling the day archived.
 *
 * Every step reads where the previous one left the day, so a run interrupted anywhere is finished by the next.
 */
import type { ColdDaySettings } from '../config';
import type { Db, Queryable } from '../db';
import { HealthCheck, type ReconcileViolation } from '../saga';
import { archiveColdDay, type ArchivePlace } from './coldArchive';

export type { ColdDaySettings };

/** Days a run archives at most, so a backlog (the first run after a long pause) spreads over runs. */
export const COLD_DAYS_PER_RUN = 3;
/** Days past the window a run looks at at most, the unsettled ones included. */
const COLD_DAYS_EXAMINED_MAX = 31;
/** A run's time when its caller gives none; the reconcile run gives half its own budget. */
export const COLD_DAYS_BUDGET_MS = 60_000;
/** How long freezing a day waits for its partitions' lock: a busy moment fails it, the next run tries again. */
export const COLD_DAY_LOCK_TIMEOUT_MS = 2_000;

export interface ColdDayRun {
  /** Days (YYYY-MM-DD) archived by this run, interrupted ones finished included. */
  archived: string[];
  /** Days past the hot window that are not settled, with what keeps each live. */
  unsettled: { day: string; blockers: string[] }[];
  /** Days whose archive did not match their snapshot or whose step failed; they stay cold and are retried. */
  failed: { day: string; detail: string }[];
}

/** The archive schema of a live schema: the archived tables sit beside the live ones, under their own name. */
export const archiveSchemaOf = (schema: string): string => `${schema}_archive`;

/** The cold days (YYYY-MM-DD) as the caller's snapshot sees them. */
export async function coldDaysOf(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ day: string }>(
    `SELECT to_char(day, 'YYYY-MM-DD') AS day FROM cold_days ORDER BY day`,
  );
  return rows.map((row) => row.day);
}

/** Days with live partitions older than the hot window and not cold yet, oldest first (the catalog only). */
async function daysPastWindow(db: Queryable, hotWindowDays: number): Promise<string[]> {
  // The CASE reads a day only from a dated partition's name (not `claims_legacy`), whatever order Postgres
  // evaluates the conditions in.
  const { rows } = await db.query<{ day: string }>(
    `SELECT to_char(d.day, 'YYYY-MM-DD') AS day FROM (
       SELECT DISTINCT CASE WHEN c.relname ~ '_[0-9]{8}$' THEN to_date(right(c.relname, 8), 'YYYYMMDD') END AS day
         FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent
        WHERE p.relname IN ('packets', 'claims', 'transfers')
          AND p.relnamespace = current_schema()::regnamespace) AS d
      WHERE d.day < (now() AT TIME ZONE 'UTC')::date - $1::int
        AND NOT EXISTS (SELECT 1 FROM cold_days k WHERE k.day = d.day)
      ORDER BY d.day LIMIT ${COLD_DAYS_EXAMINED_MAX}`,
    [hotWindowDays],
  );
  return rows.map((row) => row.day);
}

/**
 * Steps 1 to 3 for one day: its blockers, none when the day is now cold. The snapshot sums the whole day in
 * one statement, allowed `timeoutMs` (the statement timeout of the pool would cut a big day short).
 */
export async function makeDayCold(db: Db, day: string, timeoutMs: number): Promise<string[]> {
  const looked = await db.query<{ blockers: string[] }>('SELECT cold_day_blockers($1::date) AS blockers', [
    day,
  ]);
  if ((looked.rows[0]?.blockers ?? []).length > 0) return looked.rows[0]?.blockers ?? [];
  const frozen = await db.withTransaction(
    async (tx) =>
      (await tx.query<{ blockers: string[] }>('SELECT freeze_cold_day($1::date) AS blockers', [day])).rows[0]
        ?.blockers ?? [],
    { lockTimeoutMs: COLD_DAY_LOCK_TIMEOUT_MS },
  );
  if (frozen.length > 0) return frozen;
  await db.withTransaction(async (tx) => {
    await tx.query(`SET LOCAL statement_timeout = ${Math.round(timeoutMs)}`);
    await tx.query('SELECT snapshot_cold_day($1::date)', [day]);
  });
  return [];
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * One run of the cold-day job; see the module's comment. It starts no day after `budgetMs`, and a concurrent
 * detach waits at most what is left of it (at least a second), so the run that carries it keeps its time.
 */
export async function runColdDays(
  db: Db,
  settings: ColdDaySettings,
  budgetMs: number = COLD_DAYS_BUDGET_MS,
): Promise<ColdDayRun> {
  const run: ColdDayRun = { archived: [], unsettled: [], failed: [] };
  if (settings.hotWindowDays === 0) return run;
  const deadlineMs = Date.now() + budgetMs;
  const leftMs = () => Math.max(1_000, deadlineMs - Date.now());
  const place: ArchivePlace = { schema: archiveSchemaOf(db.schema), tablespace: settings.tablespace };
  const archive = async (day: string) => {
    if (Date.now() > deadlineMs) return;
    try {
      const mismatches = await archiveColdDay(db, day, place, leftMs());
      if (mismatches.length === 0) run.archived.push(day);
      else
        run.failed.push({ day, detail: `the archive does not match the snapshot: ${mismatches.join('; ')}` });
    } catch (err) {
      run.failed.push({ day, detail: messageOf(err) });
    }
  };
  // Days a run left cold (interrupted after the snapshot) are finished first.
  const { rows: leftCold } = await db.query<{ day: string }>(
    `SELECT to_char(day, 'YYYY-MM-DD') AS day FROM cold_days WHERE state = 'cold' ORDER BY day`,
  );
  for (const { day } of leftCold) await archive(day);
  for (const day of await daysPastWindow(db, settings.hotWindowDays)) {
    if (run.archived.length >= COLD_DAYS_PER_RUN || Date.now() > deadlineMs) break;
    let blockers: string[];
    try {
      blockers = await makeDayCold(db, day, leftMs());
    } catch (err) {
      run.failed.push({ day, detail: messageOf(err) });
      continue;
    }
    if (blockers.length > 0) run.unsettled.push({ day, blockers });
    else await archive(day);
  }
  return run;
}

/** The reconcile report's lines of a run: the days that stay live past the window, and the failed archives. */
export function coldDayLines(run: ColdDayRun): ReconcileViolation[] {
  return [
    ...run.unsettled.map(({ day, blockers }) => ({
      check: HealthCheck.ColdDayUnsettled,
      detail: `day ${day} is past the hot window but not settled: ${blockers.join(', ')}`,
    })),
    ...run.failed.map(({ day, detail }) => ({
      check: HealthCheck.ColdDayArchiveFailed,
      detail: `day ${day}: ${detail}`,
    })),
  ];
}
