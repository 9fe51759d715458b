/**
 * The reconciler's state in Postgres (migration 0013): the watermark that says what the next run audits, the
 * scope carried while violations last, the gate walk's cursor and the last report. One row, shared by every
 * worker and kept across Temporal restarts.
 */
import type { Queryable } from '../db';
import type { ReconcileReport } from '../saga';
import type { AuditScope } from './auditScope';

/**
 * Rows newer than this are audited again by the next run instead of passing the watermark: a transfer's seq
 * and a claim's created_at are taken when it is written, so a transaction still open (up to the 10 s statement
 * timeout, DATABASE_STATEMENT_TIMEOUT_MS) may commit rows below what a run already saw.
 */
export const WATERMARK_LAG_MS = 30_000;
/** Transfers read per run; a backlog past it is read over the next runs. */
export const TRANSFERS_PER_RUN = 20_000;
/** Ids carried per kind while violations last; beyond it only the newest window is audited again. */
export const CARRIED_IDS_MAX = 10_000;

export interface AuditWindow {
  scope: AuditScope;
  /** The watermark to store once the run is done. */
  next: { transferSeq: number; claimsAfter: string };
  gateCursor: string;
}

interface StateRow {
  transfer_seq: number;
  claims_after: string;
  carried_scope: AuditScope | null;
  gate_cursor: string;
}

const union = (a: readonly string[], b: readonly string[]): string[] =>
  [...new Set([...a, ...b])].slice(-CARRIED_IDS_MAX);

/** What changed since the watermark, with the carried scope of runs whose violations were not yet clean. */
export async function readWindow(q: Queryable): Promise<AuditWindow> {
  const { rows: states } = await q.query<StateRow>(
    `SELECT transfer_seq, claims_after::text, carried_scope, gate_cursor FROM reconcile_state`,
  );
  const state = states[0];
  if (!state) throw new Error('reconcile_state has no row (migration 0013)');
  const { rows: transfers } = await q.query<{
    seq: number;
    packet_id: string | null;
    debit_account_id: string;
    credit_account_id: string;
    settled: boolean;
  }>(
    `SELECT seq, packet_id, debit_account_id, credit_account_id,
            created_at < clock_timestamp() - $3::bigint * interval '1 millisecond' AS settled
       FROM transfers WHERE seq > $1 ORDER BY seq LIMIT $2`,
    [state.transfer_seq, TRANSFERS_PER_RUN, WATERMARK_LAG_MS],
  );
  // Uncredited claims only (the partial index claims_credit_queue); a credited one has its credit transfer.
  const { rows: claims } = await q.query<{ packet_id: string }>(
    `SELECT DISTINCT packet_id FROM claims
      WHERE credited_at IS NULL AND created_at > $1::timestamptz LIMIT $2`,
    [state.claims_after, TRANSFERS_PER_RUN],
  );
  const { rows: clock } = await q.query<{ next_after: string }>(
    `SELECT (clock_timestamp() - $1::bigint * interval '1 millisecond')::text AS next_after`,
    [WATERMARK_LAG_MS],
  );
  // The watermark passes only the leading run of settled transfers; the rest are read again next time.
  let transferSeq = state.transfer_seq;
  for (const row of transfers) {
    if (!row.settled) break;
    transferSeq = row.seq;
  }
  const packetIds = new Set<string>();
  const accountIds = new Set<string>();
  for (const row of transfers) {
    if (row.packet_id) packetIds.add(row.packet_id);
    accountIds.add(row.debit_account_id).add(row.credit_account_id);
  }
  for (const row of claims) packetIds.add(row.packet_id);
  const carried = state.carried_scope;
  return {
    scope: {
      packetIds: union(carried?.packetIds ?? [], [...packetIds]),
      accountIds: union(carried?.accountIds ?? [], [...accountIds]),
      transfersAfterSeq: Math.min(carried?.transfersAfterSeq ?? state.transfer_seq, state.transfer_seq),
    },
    next: {
      transferSeq,
      // Never back: a run with no new claims keeps the old watermark moving with the clock.
      claimsAfter: clock[0]?.next_after ?? state.claims_after,
    },
    gateCursor: state.gate_cursor,
  };
}

/**
 * Stores the run's outcome: the watermark moves on, and the scope is carried to the next run when the
 * scoped checks found violations (null once clean), with the report and where the gate walk stopped.
 */
export async function saveRun(
  q: Queryable,
  window: AuditWindow,
  outcome: { violations: boolean; gateCursor: string; report: ReconcileReport },
): Promise<void> {
  await q.query(
    `UPDATE reconcile_state
        SET transfer_seq = greatest(transfer_seq, $1), claims_after = greatest(claims_after, $2::timestamptz),
            carried_scope = $3::jsonb, gate_cursor = $4, report = $5::jsonb, reported_at = clock_timestamp()`,
    [
      window.next.transferSeq,
      window.next.claimsAfter,
      outcome.violations ? JSON.stringify(window.scope) : null,
      outcome.gateCursor,
      JSON.stringify(outcome.report),
    ],
  );
}

/** The last run's report, as any process may read it (null before the first run). */
export async function lastReport(q: Queryable): Promise<ReconcileReport | null> {
  const { rows } = await q.query<{ report: ReconcileReport | null }>('SELECT report FROM reconcile_state');
  return rows[0]?.report ?? null;
}
