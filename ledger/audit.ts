/**
 * The money audit: recomputes every invariant of DESIGN.md's money rules from the stored rows and reports
 * each violation by check name. `npm run audit` prints it; the test suite runs it after its scenarios.
 * docs/audit.md lists the checks, why each exists, and their thresholds.
 *
 * All checks and the stats read one REPEATABLE READ snapshot, so an audit of a live system compares rows
 * as of one instant: a credit committing between two checks cannot look like a violation.
 */
import type { Client } from '@temporalio/client';
import type { Db, Queryable } from '../db';
import { ClaimCheck, claimQueries, LATE_CLAIM_TOLERANCE_MS } from './auditClaims';
import { ledgerQueries, LedgerCheck, type AuditQuery } from './auditChecks';
import type { AuditScope } from './auditScope';
import {
  LivenessCheck,
  livenessQueries,
  OPEN_PAST_EXPIRY_GRACE_MS,
  UNCREDITED_CLAIM_MAX_AGE_MS,
} from './auditLiveness';
import { RecordCheck, recordQueries } from './auditRecords';
import {
  checkWorkflows,
  WORKFLOW_CLOSE_SKEW_MS,
  WorkflowCheck,
  WORKFLOWS_CHECKED_MAX,
  type WorkflowAudit,
} from './auditWorkflows';

export type { AuditScope, WorkflowAudit };

/** Stable names: the report, the tests and operators' alerts all key on these. */
export const AuditCheck = {
  ...LedgerCheck,
  ...ClaimCheck,
  ...RecordCheck,
  ...LivenessCheck,
  ...WorkflowCheck,
} as const;
export type AuditCheck = (typeof AuditCheck)[keyof typeof AuditCheck];

/** The checks that look at everything even when the audit is scoped (see AuditOptions.scope). */
export const UNSCOPED_CHECKS: ReadonlySet<AuditCheck> = new Set<AuditCheck>([
  AuditCheck.BalancesSumToZero,
  AuditCheck.NoNegativeBalance,
  AuditCheck.SetAsideClaimUncredited,
  AuditCheck.ExpiredPacketSettled,
  AuditCheck.ClaimCreditedInTime,
  AuditCheck.EscrowHasLiveWorkflow,
]);

/** How long the live paths may take before the audit calls a delay a violation; see each constant. */
export interface AuditThresholds {
  openPastExpiryGraceMs: number;
  uncreditedMaxAgeMs: number;
  lateClaimToleranceMs: number;
  workflowsMax: number;
  workflowCloseSkewMs: number;
}

export const DEFAULT_AUDIT_THRESHOLDS: Readonly<AuditThresholds> = {
  openPastExpiryGraceMs: OPEN_PAST_EXPIRY_GRACE_MS,
  uncreditedMaxAgeMs: UNCREDITED_CLAIM_MAX_AGE_MS,
  lateClaimToleranceMs: LATE_CLAIM_TOLERANCE_MS,
  workflowsMax: WORKFLOWS_CHECKED_MAX,
  workflowCloseSkewMs: WORKFLOW_CLOSE_SKEW_MS,
};

export interface AuditOptions {
  /** Overrides of DEFAULT_AUDIT_THRESHOLDS; an undefined field keeps the default. */
  thresholds?: { [K in keyof AuditThresholds]?: number | undefined };
  /** When given, packets holding escrow are checked against their workflows; otherwise that check is not run. */
  temporal?: Client | undefined;
  /**
   * Restricts the ledger, claim and payment-decision checks to what the scope names (the reconciler's
   * watermark, ledger/auditScope.ts). The global totals, the set-aside rows, the liveness checks (which look
   * for money that did not move, so no watermark can find them) and the workflow check always look at all.
   */
  scope?: AuditScope | undefined;
}

/** Enough lines to see the pattern without flooding a terminal; the rest are counted. */
export const AUDIT_DETAILS_PER_CHECK_MAX = 20;

export interface AuditViolation {
  check: AuditCheck;
  detail: string;
}

export interface AuditStats {
  accounts: { wallets: number; escrows: number; external: number; clearing: number };
  transfers: { deposit: number; pay: number; credit: number; refund: number; xcredit: number };
  packets: { open: number; closed: number; finished: number };
  claims: { total: number; uncredited: number };
  /**
   * Money by where it sits. wallets + escrows + clearing + external is 0 when the books balance; clearing is
   * what this cell owes other cells (positive) less what it paid out of theirs (negative), docs/cells.md.
   */
  totals: {
    walletsFen: number;
    escrowsFen: number;
    clearingFen: number;
    externalFen: number;
    uncreditedClaimsFen: number;
  };
}

export interface AuditReport {
  ok: boolean;
  violations: AuditViolation[];
  stats: AuditStats;
  /** The workflow check's coverage, or undefined when no Temporal client was given. */
  workflows: WorkflowAudit | undefined;
  thresholds: AuditThresholds;
  durationMs: number;
}

interface StatsRow {
  wallets: number;
  escrows: number;
  external: number;
  clearing: number;
  clearing_fen: number;
  xcredit: number;
  wallets_fen: number;
  escrows_fen: number;
  external_fen: number;
  deposit: number;
  pay: number;
  credit: number;
  refund: number;
  open: number;
  closed: number;
  finished: number;
  claims: number;
  uncredited: number;
  uncredited_fen: number;
}

// Counts cast to int and sums to bigint, so pg hands back numbers (db/index.ts parses int8 as safe integers).
const STATS_QUERY = `
  SELECT a.*, t.*, p.*, c.* FROM
    (SELECT count(*) FILTER (WHERE kind = 'wallet')::int AS wallets,
            count(*) FILTER (WHERE kind = 'escrow')::int AS escrows,
            count(*) FILTER (WHERE kind = 'external')::int AS external,
            count(*) FILTER (WHERE kind = 'clearing')::int AS clearing,
            coalesce(sum(balance_fen) FILTER (WHERE kind = 'clearing'), 0)::bigint AS clearing_fen,
            coalesce(sum(balance_fen) FILTER (WHERE kind = 'wallet'), 0)::bigint AS wallets_fen,
            coalesce(sum(balance_fen) FILTER (WHERE kind = 'escrow'), 0)::bigint AS escrows_fen,
            coalesce(sum(balance_fen) FILTER (WHERE kind = 'external'), 0)::bigint AS external_fen
       FROM accounts) AS a,
    (SELECT count(*) FILTER (WHERE kind = 'deposit')::int AS deposit,
            count(*) FILTER (WHERE kind = 'pay')::int AS pay,
            count(*) FILTER (WHERE kind = 'credit')::int AS credit,
            count(*) FILTER (WHERE kind = 'refund')::int AS refund,
            count(*) FILTER (WHERE kind = 'xcredit')::int AS xcredit
       FROM live_transfers) AS t,
    (SELECT count(*) FILTER (WHERE status = 'open')::int AS open,
            count(*) FILTER (WHERE status = 'closed')::int AS closed,
            count(*) FILTER (WHERE status = 'finished')::int AS finished
       FROM live_packets) AS p,
    (SELECT count(*)::int AS claims,
            count(*) FILTER (WHERE credited_at IS NULL)::int AS uncredited,
            coalesce(sum(amount_fen) FILTER (WHERE credited_at IS NULL), 0)::bigint AS uncredited_fen
       FROM live_claims) AS c`;

async function readStats(q: Queryable): Promise<AuditStats> {
  const { rows } = await q.query<StatsRow>(STATS_QUERY);
  const row = rows[0];
  if (!row) throw new Error('the stats query returned no row');
  return {
    accounts: { wallets: row.wallets, escrows: row.escrows, external: row.external, clearing: row.clearing },
    transfers: {
      deposit: row.deposit,
      pay: row.pay,
      credit: row.credit,
      refund: row.refund,
      xcredit: row.xcredit,
    },
    packets: { open: row.open, closed: row.closed, finished: row.finished },
    claims: { total: row.claims, uncredited: row.uncredited },
    totals: {
      walletsFen: row.wallets_fen,
      escrowsFen: row.escrows_fen,
      clearingFen: row.clearing_fen,
      externalFen: row.external_fen,
      uncreditedClaimsFen: row.uncredited_fen,
    },
  };
}

/** A check's violations in a stable order, at most AUDIT_DETAILS_PER_CHECK_MAX of them plus a count of the rest. */
function capped(check: AuditCheck, details: string[], total = details.length): AuditViolation[] {
  const violations = details.map((detail) => ({ check, detail }));
  if (total > details.length) violations.push({ check, detail: `... and ${total - details.length} more` });
  return violations;
}

async function runCheck(
  q: Queryable,
  { check, sql, params }: AuditQuery<AuditCheck>,
): Promise<AuditViolation[]> {
  // The window count runs before LIMIT, so the report can say how many lines it left out.
  const { rows } = await q.query<{ detail: string; total: number }>(
    `SELECT detail, count(*) OVER ()::int AS total FROM (${sql}) AS v ORDER BY detail LIMIT $1`,
    [AUDIT_DETAILS_PER_CHECK_MAX, ...params],
  );
  return capped(
    check,
    rows.map((row) => row.detail),
    rows[0]?.total ?? 0,
  );
}

function resolveThresholds(overrides: AuditOptions['thresholds'] = {}): AuditThresholds {
  const thresholds = { ...DEFAULT_AUDIT_THRESHOLDS };
  for (const key of Object.keys(thresholds) as (keyof AuditThresholds)[]) {
    const value = overrides[key];
    if (value !== undefined) thresholds[key] = value;
  }
  return thresholds;
}

/** The checks' violations and the workflow check's coverage, without the stats (full-table counts). */
export async function auditChecksWith(
  q: Queryable,
  options: AuditOptions = {},
): Promise<Pick<AuditReport, 'violations' | 'workflows' | 'thresholds'>> {
  const thresholds = resolveThresholds(options.thresholds);
  const queries: AuditQuery<AuditCheck>[] = [
    ...ledgerQueries(options.scope),
    ...claimQueries(thresholds, options.scope),
    ...recordQueries(options.scope),
    ...livenessQueries(thresholds),
  ];
  const violations: AuditViolation[] = [];
  // Sequential on purpose: a transaction's statements run one at a time on its single connection anyway.
  for (const query of queries) violations.push(...(await runCheck(q, query)));
  let workflows: WorkflowAudit | undefined;
  if (options.temporal) {
    const checked = await checkWorkflows(q, options.temporal, thresholds);
    workflows = checked.audit;
    const details = checked.details.sort();
    violations.push(
      ...capped(
        AuditCheck.EscrowHasLiveWorkflow,
        details.slice(0, AUDIT_DETAILS_PER_CHECK_MAX),
        details.length,
      ),
    );
  }
  return { violations, workflows, thresholds };
}

/**
 * Runs every check on `q` as it is. Tests use this inside a transaction they roll back, to audit
 * deliberately corrupted rows without leaving them behind; everyone else wants `runAudit`.
 */
export async function auditWith(q: Queryable, options: AuditOptions = {}): Promise<AuditReport> {
  const startedMs = Date.now();
  const { violations, workflows, thresholds } = await auditChecksWith(q, options);
  const stats = await readStats(q);
  return {
    ok: violations.length === 0,
    violations,
    stats,
    workflows,
    thresholds,
    durationMs: Date.now() - startedMs,
  };
}

/** Audits the whole database from one read-only snapshot. */
export async function runAudit(db: Db, options: AuditOptions = {}): Promise<AuditReport> {
  return db.withTransaction(
    async (tx) => {
      await tx.query('SET TRANSACTION READ ONLY');
      return auditWith(tx, options);
    },
    { isolation: 'repeatable read' },
  );
}
