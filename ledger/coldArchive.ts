/**
 * The archive step of a cold day (docs/day-tables.md, "Cold days"): its three partitions leave the live
 * tables and are kept, whole, in the archive schema, where an operator reads them with plain SQL. Called
 * once the day is cold (snapshot_cold_day), so the live readers already leave it out.
 *
 * Each partition goes through the same steps, each chosen by where the catalog says the table is, so a run
 * that stopped anywhere (a timeout, a crash, a cancelled detach) is finished by the next:
 *
 * - attached: `DETACH PARTITION ... CONCURRENTLY`, which takes SHARE UPDATE EXCLUSIVE on the parent (sends,
 *   opens and credits go on) and waits for the transactions that might still see the partition; a detach
 *   left pending by an interruption is completed with `... FINALIZE`.
 * - detached, still in the live schema: its foreign keys are dropped (an archived table is a record checked
 *   against the snapshot, not a table the live ones point into or out of), then it moves to the archive
 *   schema (a catalog change, no copy). Dropping a foreign key is what CONCURRENTLY cannot help with: it takes
 *   ACCESS EXCLUSIVE on the referenced table for a moment (packets for the claims' key, accounts for the
 *   transfers'), under the lock timeout below.
 * - in the archive schema: moved to the configured tablespace, its indexes too, when one is configured.
 *
 * Claims go first: packets' partition can only leave once no claims partition references it.
 */
import type { Db, Queryable } from '../db';

/** Where archived tables go. */
export interface ArchivePlace {
  schema: string;
  tablespace: string | undefined;
}

/** claims before packets, whose partition its foreign key references. */
const DETACH_ORDER = ['claims', 'transfers', 'packets'] as const;
/** How long a step waits for a lock; a busy moment fails the step and the next run resumes it. */
const ARCHIVE_LOCK_TIMEOUT_MS = 2_000;

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

interface PartitionState {
  oid: string;
  schema: string;
  /** null when detached; true while a concurrent detach is pending. */
  detachPending: boolean | null;
}

/**
 * Moves the cold day's partitions into the archive and checks them against the snapshot (mark_day_archived);
 * returns the mismatches, none when the day is now archived. Each statement may take `timeoutMs`: a
 * concurrent detach waits that long at most for the transactions that still see its partition.
 */
export async function archiveColdDay(
  db: Db,
  day: string,
  place: ArchivePlace,
  timeoutMs: number,
): Promise<string[]> {
  const suffix = day.replace(/-/g, '');
  const session = await db.pool.connect();
  try {
    // Outside any transaction: a concurrent detach refuses to run inside one.
    await session.query(
      `SET lock_timeout = ${ARCHIVE_LOCK_TIMEOUT_MS}; SET statement_timeout = ${Math.round(timeoutMs)}`,
    );
    await session.query(`CREATE SCHEMA IF NOT EXISTS ${ident(place.schema)}`);
    const stateOf = async (part: string): Promise<PartitionState | undefined> =>
      (
        await session.query<PartitionState>(
          `SELECT c.oid::text AS oid, n.nspname AS schema, i.inhdetachpending AS "detachPending"
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
            WHERE c.relname = $1 AND n.nspname IN (current_schema(), $2) AND c.relkind = 'r'`,
          [part, place.schema],
        )
      ).rows[0];
    for (const parent of DETACH_ORDER) {
      const part = `${parent}_${suffix}`;
      const state = await stateOf(part);
      if (!state) throw new Error(`day ${day}: ${part} is neither live nor archived`);
      if (state.detachPending !== null) {
        const how = state.detachPending ? 'FINALIZE' : 'CONCURRENTLY';
        await session.query(`ALTER TABLE ${ident(parent)} DETACH PARTITION ${ident(part)} ${how}`);
      }
      const table = `${ident(state.schema)}.${ident(part)}`;
      const { rows: keys } = await session.query<{ name: string }>(
        // The top keys only: a key into the partitioned packets has one sub-key per packets partition, which
        // goes with it (and cannot be dropped on its own).
        `SELECT conname AS name FROM pg_constraint
          WHERE conrelid = $1::oid AND contype = 'f' AND conparentid = 0 ORDER BY conname`,
        [state.oid],
      );
      for (const key of keys) await session.query(`ALTER TABLE ${table} DROP CONSTRAINT ${ident(key.name)}`);
      if (state.schema !== place.schema)
        await session.query(`ALTER TABLE ${table} SET SCHEMA ${ident(place.schema)}`);
      if (place.tablespace !== undefined) await moveToTablespace(session, state.oid, place.tablespace);
    }
    const { rows } = await session.query<{ mismatches: string[] }>(
      'SELECT mark_day_archived($1::date, $2, $3) AS mismatches',
      [day, place.schema, place.tablespace ?? null],
    );
    return rows[0]?.mismatches ?? [];
  } finally {
    await session.query('RESET lock_timeout; RESET statement_timeout').catch(() => undefined);
    session.release();
  }
}

/**
 * The table and each of its indexes (ALTER TABLE ... SET TABLESPACE leaves the indexes where they were), each
 * only when it is elsewhere, so a move that stopped halfway is finished and a finished one costs nothing.
 */
async function moveToTablespace(session: Queryable, oid: string, tablespace: string): Promise<void> {
  const { rows } = await session.query<{ kind: string; name: string }>(
    `SELECT CASE c.relkind WHEN 'i' THEN 'INDEX' ELSE 'TABLE' END AS kind,
            format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE (c.oid = $1::oid OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = $1::oid))
        AND c.reltablespace IS DISTINCT FROM (SELECT oid FROM pg_tablespace WHERE spcname = $2)
      ORDER BY c.relkind DESC`,
    [oid, tablespace],
  );
  for (const { kind, name } of rows)
    await session.query(`ALTER ${kind} ${name} SET TABLESPACE ${ident(tablespace)}`);
}
