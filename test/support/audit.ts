/** Runs the money audit and fails the calling test with every violation listed, one per line. */
import type { Db } from '../../db';
import { runAudit, type AuditOptions, type AuditReport } from '../../ledger/audit';

export async function expectAuditClean(db: Db, options: AuditOptions = {}): Promise<AuditReport> {
  const report = await runAudit(db, options);
  if (!report.ok) {
    const lines = report.violations.map((violation) => `  ${violation.check}: ${violation.detail}`);
    throw new Error(`the money audit found ${report.violations.length} violation(s):\n${lines.join('\n')}`);
  }
  // Given a Temporal client, a clean audit means the workflows were checked, not that the check gave up.
  if (options.temporal && report.workflows?.status !== 'checked') {
    throw new Error(`the audit's workflow check did not run: ${JSON.stringify(report.workflows)}`);
  }
  return report;
}
