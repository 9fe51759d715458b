/**
 * `npm run audit`: checks the money invariants against the configured database, prints a short report and
 * exits 1 on any violation, so it can gate a deploy or page someone from a cron job. When the configured
 * Temporal answers, packets holding escrow are also checked against their workflows; when it does not,
 * that check is skipped with a line saying so, and the rest of the audit still decides the exit code.
 * `--cells` audits every cell's database and the pair audit between them instead (scripts/lib/cellsAudit.ts).
 */
import type { Client } from '@temporalio/client';
import { loadConfig, type Config } from '../config';
import { createDb, type Db } from '../db';
import { runAudit, type AuditReport } from '../ledger/audit';
import { createTemporal, pingTemporal, type TemporalDeps } from '../temporal/client';
import { auditCells } from './lib/cellsAudit';

/** How long the audit waits for Temporal to answer before it skips the workflow check. */
const TEMPORAL_PING_TIMEOUT_MS = 3_000;

function formatWorkflows(report: AuditReport, unreachable: string | undefined): string {
  const workflows = report.workflows;
  if (unreachable !== undefined) return `workflows: skipped: Temporal unreachable at ${unreachable}`;
  if (!workflows) return 'workflows: skipped: no Temporal client';
  if (workflows.status === 'skipped') return `workflows: skipped: ${workflows.reason}`;
  return `workflows: ${workflows.checkedCount} of ${workflows.candidateCount} packets holding escrow checked`;
}

function formatReport(report: AuditReport, schema: string, unreachable: string | undefined): string {
  const { accounts, transfers, packets, claims, totals } = report.stats;
  const { openPastExpiryGraceMs, uncreditedMaxAgeMs, lateClaimToleranceMs } = report.thresholds;
  const lines = [
    `audit of schema ${schema}: ${report.ok ? 'ok' : `FAILED: ${report.violations.length} violation(s)`} in ${report.durationMs} ms`,
    `accounts:  ${accounts.wallets} wallets, ${accounts.escrows} escrows, ${accounts.external} external`,
    `transfers: ${transfers.deposit} deposit, ${transfers.pay} pay, ${transfers.credit} credit, ${transfers.refund} refund`,
    `packets:   ${packets.open} open, ${packets.closed} closed, ${packets.finished} finished; ` +
      `${claims.total} claims, ${claims.uncredited} uncredited (${totals.uncreditedClaimsFen} fen)`,
    `fen:       wallets ${totals.walletsFen}, escrows ${totals.escrowsFen}, clearing ${totals.clearingFen}, ` +
      `external ${totals.externalFen}`,
    formatWorkflows(report, unreachable),
    `limits:    settled ${openPastExpiryGraceMs} ms after expiry, credited ${uncreditedMaxAgeMs} ms after opening, ` +
      `claims up to ${lateClaimToleranceMs} ms past expiry`,
    ...report.violations.map((violation) => `VIOLATION ${violation.check}: ${violation.detail}`),
  ];
  return lines.join('\n');
}

/** The Temporal client when the configured server answers, or why not. */
async function reachTemporal(
  config: Config,
  temporal: TemporalDeps,
): Promise<{ client: Client } | { unreachable: string }> {
  try {
    await pingTemporal(temporal, TEMPORAL_PING_TIMEOUT_MS);
    return { client: temporal.client };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return {
      unreachable: `${config.temporal.address}: no answer within ${TEMPORAL_PING_TIMEOUT_MS} ms (${reason})`,
    };
  }
}

async function main(): Promise<void> {
  const config = loadConfig();
  if (process.argv.includes('--cells')) {
    const { ok, lines } = await auditCells(config);
    console.log(lines.join('\n'));
    process.exitCode = ok ? 0 : 1;
    return;
  }
  const db: Db = createDb(config, { applicationName: 'redpacket-audit' });
  const temporal = createTemporal(config);
  const close = async () => {
    await Promise.allSettled([db.close(), temporal.close()]);
  };
  const stop = () => {
    void close().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const reached = await reachTemporal(config, temporal);
    const client = 'client' in reached ? reached.client : undefined;
    const report = await runAudit(db, { thresholds: config.audit, temporal: client });
    const unreachable = 'unreachable' in reached ? reached.unreachable : undefined;
    console.log(formatReport(report, config.database.schema, unreachable));
    process.exitCode = report.ok ? 0 : 1;
  } finally {
    await close();
  }
}

/** What to run first, for the errors a fresh machine gives (no database yet, not migrated, server down). */
function nextStep(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === '3D000' || code === '42P01') return ': run `npm run migrate` (or `npm run dev`) first';
  if (code === 'ECONNREFUSED')
    return ': start Postgres (`npm run dev` starts a local one) or set DATABASE_URL';
  return '';
}

// Exit as soon as the report is out: a gRPC channel that never reached Temporal keeps retrying for seconds
// after close() and would hold the process open for nothing.
main().then(
  () => process.exit(),
  (err: unknown) => {
    console.error(`audit could not run: ${err instanceof Error ? err.message : String(err)}${nextStep(err)}`);
    process.exit(1);
  },
);
