/**
 * The drain switch of a cell (docs/failover.md "Draining a cell"). An operator drains a cell to take it down
 * for maintenance or to relieve it: its home users' new sends are refused 503 region_unavailable with
 * Retry-After, while grabs and opens of its existing packets go on, so the packets already paid finish.
 *
 * The switch lives in the cell's own Postgres (migration 0015): `cell_drain` is the state, `cell_drain_log`
 * every change with who and when. Every API process reads it through `createDrainSwitch`, which caches the
 * answer for DRAIN_REFRESH_MS: a change reaches every process within that time, without a restart, and a
 * send costs a query at most once per interval per process.
 */
import type { Db, Queryable } from '../../db';
import { regionUnavailable } from './unavailable';

/** How stale a process's view of the switch may be; the docs promise this bound. */
export const DRAIN_REFRESH_MS = 1_000;
/** A drain lasts minutes (maintenance), not the seconds of a failover: clients need not retry as often. */
export const DRAIN_RETRY_AFTER_SECONDS = 30;

export interface DrainState {
  cell: string;
  drained: boolean;
  reason: string | null;
  /** The admin who last changed it (the token's subject); null if it was never set. */
  changedBy: string | null;
  changedAt: string | null;
}

export interface DrainChange {
  drained: boolean;
  reason: string | null;
  changedBy: string;
  changedAt: string;
}

interface DrainRow {
  drained: boolean;
  reason: string | null;
  changed_by: string;
  changed_at: Date;
}

const toChange = (row: DrainRow): DrainChange => ({
  drained: row.drained,
  reason: row.reason,
  changedBy: row.changed_by,
  changedAt: row.changed_at.toISOString(),
});

export async function readDrain(db: Queryable, cell: string): Promise<DrainState> {
  const { rows } = await db.query<DrainRow>(
    'SELECT drained, reason, changed_by, changed_at FROM cell_drain WHERE cell = $1',
    [cell],
  );
  const row = rows[0];
  if (!row) return { cell, drained: false, reason: null, changedBy: null, changedAt: null };
  return { cell, ...toChange(row) };
}

/** The last `limit` changes of the switch, newest first. */
export async function drainHistory(db: Queryable, cell: string, limit = 10): Promise<DrainChange[]> {
  const { rows } = await db.query<DrainRow>(
    `SELECT drained, reason, changed_by, changed_at FROM cell_drain_log
     WHERE cell = $1 ORDER BY seq DESC LIMIT $2`,
    [cell, limit],
  );
  return rows.map(toChange);
}

/**
 * What a drained cell still has to finish before it can be taken down: packets still open (their grabs and
 * opens go on until they are exhausted or expire), claims not yet credited, cross-cell credits not yet
 * delivered. All zero: nothing in the cell is owed to anyone.
 */
export interface DrainProgress {
  openPackets: number;
  uncreditedClaims: number;
  undeliveredXcredits: number;
}

export async function drainProgress(db: Queryable): Promise<DrainProgress> {
  const { rows } = await db.query<{ open: number; uncredited: number; undelivered: number }>(
    `SELECT (SELECT count(*) FROM packets WHERE status = 'open')::int AS open,
            (SELECT count(*) FROM claims WHERE credited_at IS NULL)::int AS uncredited,
            (SELECT count(*) FROM xcredit_outbox WHERE delivered_at IS NULL)::int AS undelivered`,
  );
  const row = rows[0]!;
  return { openPackets: row.open, uncreditedClaims: row.uncredited, undeliveredXcredits: row.undelivered };
}

/** Sets the switch and appends the change to the log, in one transaction: no change goes unrecorded. */
export async function setDrain(
  db: Db,
  cell: string,
  change: { drained: boolean; reason: string | null; changedBy: string },
): Promise<DrainState> {
  return db.withTransaction(async (tx) => {
    const { rows } = await tx.query<DrainRow>(
      `INSERT INTO cell_drain (cell, drained, reason, changed_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (cell) DO UPDATE SET drained = EXCLUDED.drained, reason = EXCLUDED.reason,
         changed_by = EXCLUDED.changed_by, changed_at = clock_timestamp()
       RETURNING drained, reason, changed_by, changed_at`,
      [cell, change.drained, change.reason, change.changedBy],
    );
    await tx.query(
      `INSERT INTO cell_drain_log (cell, drained, reason, changed_by, changed_at) VALUES ($1, $2, $3, $4, $5)`,
      [cell, change.drained, change.reason, change.changedBy, rows[0]!.changed_at],
    );
    return { cell, ...toChange(rows[0]!) };
  });
}

export interface DrainSwitch {
  /** Refuses with 503 region_unavailable when this cell is drained; cheap while the cached view is fresh. */
  refuseSendIfDrained(): Promise<void>;
  /** Forgets the cached view (this process just changed the switch). */
  invalidate(): void;
}

export function createDrainSwitch(db: Db, cell: string, refreshMs = DRAIN_REFRESH_MS): DrainSwitch {
  let view: { drained: boolean; readAtMs: number } | undefined;
  let reading: Promise<boolean> | undefined;

  const drained = async (): Promise<boolean> => {
    if (view && Date.now() - view.readAtMs < refreshMs) return view.drained;
    // One read at a time per process, however many sends wait for it.
    reading ??= readDrain(db, cell)
      .then((state) => {
        view = { drained: state.drained, readAtMs: Date.now() };
        return state.drained;
      })
      .finally(() => {
        reading = undefined;
      });
    return reading;
  };

  return {
    async refuseSendIfDrained() {
      if (await drained())
        throw regionUnavailable(
          cell,
          `Cell ${cell} is drained by its operators: new sends by its users are refused for now.`,
        ).withHeader('Retry-After', String(DRAIN_RETRY_AFTER_SECONDS));
    },
    invalidate() {
      view = undefined;
    },
  };
}
