/** The money audit (`npm run audit`'s check) after each scenario, summarised for the report. */
import type { Db } from '../db';
import { runAudit } from '../ledger/audit';
import { log } from './progress';

export interface AuditSummary {
  after: string;
  database: string;
  ok: boolean;
  violations: number;
  examples: string[];
  claims: number;
  uncreditedClaims: number;
  transfers: number;
  durationMs: number;
}

export async function audit(db: Db, after: string, database: string): Promise<AuditSummary> {
  const report = await runAudit(db);
  const { transfers, claims } = report.stats;
  const summary: AuditSummary = {
    after,
    database,
    ok: report.ok,
    violations: report.violations.length,
    examples: report.violations.slice(0, 5).map((violation) => `${violation.check}: ${violation.detail}`),
    claims: claims.total,
    uncreditedClaims: claims.uncredited,
    transfers: transfers.deposit + transfers.pay + transfers.credit + transfers.refund,
    durationMs: report.durationMs,
  };
  log(
    `audit after ${after}: ${summary.ok ? 'ok' : `FAILED (${summary.violations} violations)`}, ` +
      `${summary.claims} claims (${summary.uncreditedClaims} uncredited), ${summary.transfers} transfers, ${summary.durationMs} ms`,
  );
  for (const example of summary.examples) log(`  ${example}`);
  return summary;
}
