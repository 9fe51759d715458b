/**
 * `npm run audit`: checks the money invariants against the configured database, prints a short report and
 * exits 1 on any violation, so it can gate a deploy or page someone from a cron job.
 */
import { loadConfig } from '../config';
import { createDb, type Db } from '../db';
import { runAudit, type AuditReport } from '../ledger/audit';

function formatReport(report: AuditReport, schema: string): string {
  const { accounts, transfers, packets, claims, totals } = report.stats;
  const lines = [
    `audit of schema ${schema}: ${report.ok ? 'ok' : `FAILED: ${report.violations.length} violation(s)`} in ${report.durationMs} ms`,
    `accounts:  ${accounts.wallets} wallets, ${accounts.escrows} escrows, ${accounts.external} external`,
    `transfers: ${transfers.deposit} deposit, ${transfers.pay} pay, ${transfers.credit} credit, ${transfers.refund} refund`,
    `packets:   ${packets.open} open, ${packets.closed} closed, ${packets.finished} finished; ` +
      `${claims.total} claims, ${claims.uncredited} uncredited (${totals.uncreditedClaimsFen} fen)`,
    `fen:       wallets ${totals.walletsFen}, escrows ${totals.escrowsFen}, external ${totals.externalFen}`,
    ...report.violations.map((violation) => `VIOLATION ${violation.check}: ${violation.detail}`),
  ];
  return lines.join('\n');
}

async function main(): Promise<void> {
  const config = loadConfig();
  const db: Db = createDb(config, { applicationName: 'redpacket-audit' });
  const stop = () => {
    void db.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const report = await runAudit(db);
    console.log(formatReport(report, config.database.schema));
    process.exitCode = report.ok ? 0 : 1;
  } finally {
    await db.close();
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

main().catch((err: unknown) => {
  console.error(`audit could not run: ${err instanceof Error ? err.message : String(err)}${nextStep(err)}`);
  process.exit(1);
});
