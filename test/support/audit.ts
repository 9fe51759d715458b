/** Runs the money audit and fails the calling test with every violation listed, one per line. */
import type { Db } from '../../db';
import { runAudit, type AuditReport } from '../../ledger/audit';

export async function expectAuditClean(db: Db): Promise<AuditReport> {
  const report = await runAudit(db);
  if (!report.ok) {
    const lines = report.violations.map((violation) => `  ${violation.check}: ${violation.detail}`);
    throw new Error(`the money audit found ${report.violations.length} violation(s):\n${lines.join('\n')}`);
  }
  return report;
}
