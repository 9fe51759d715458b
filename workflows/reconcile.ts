/**
 * One reconciliation run, started by the reconcile schedule (workers/reconcileSchedule.ts) every
 * RECONCILE_INTERVAL_MS with overlap SKIP. Its activity does the work (activities/reconcile.ts); the workflow
 * publishes the outcome where operators look: `AuditViolations` on the run (list filter
 * `AuditViolations > 0`), the report through `reconcileReportQuery`, and a one-line summary in the UI.
 */
import { proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { AuditViolationsKey, reconcileReportQuery, type ReconcileInput, type ReconcileReport } from '../saga';

/**
 * Above the run's own budget. Retries back off over about 15 s (1, 2, 4, 8 s): enough to outlast a Postgres
 * failover's gap (docs/failover.md), so a routine failover does not leave a FAILED run for operators to chase;
 * a longer outage still fails the run, and the next scheduled run comes soon anyway.
 */
const RECONCILE_ACTIVITY_TIMEOUT_MARGIN_MS = 30_000;

function summary(report: ReconcileReport): string {
  const failing = Object.entries(report.countsByCheck)
    .filter(([, count]) => count > 0)
    .map(([check, count]) => `${check} ${count}`);
  return [
    `**reconcile**: ${report.violationCount} violations${failing.length ? ` (${failing.join(', ')})` : ''}, ` +
      `${report.repairs.length} repairs, ${report.gatesChecked} gates checked, ${report.durationMs} ms`,
    `audited transfers (${report.scope.transfersFromSeq}, ${report.scope.transfersToSeq}], ` +
      `${report.scope.packets} packets, ${report.scope.accounts} accounts; workflows ${report.workflows}`,
    ...(report.skipped.length ? [`skipped: ${report.skipped.join('; ')}`] : []),
  ].join('\n');
}

export async function reconcileWorkflow(input: ReconcileInput): Promise<ReconcileReport> {
  let report: ReconcileReport | null = null;
  setHandler(reconcileReportQuery, () => report);
  const run = proxyActivities<Activities>({
    startToCloseTimeout: input.budgetMs + RECONCILE_ACTIVITY_TIMEOUT_MARGIN_MS,
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '8 seconds',
      maximumAttempts: 5,
    },
  });
  // Adoption (activities/adopt.ts) goes before the audit, so that the packets it adopts no longer count as
  // escrow without a workflow; what it did joins the report (repairs, and adoption_failed violations).
  const adoption = await run.adoptOrphanedPackets({ limit: input.adoptLimit });
  report = await run.reconcile(input, adoption);
  upsertSearchAttributes([{ key: AuditViolationsKey, value: report.violationCount }]);
  setCurrentDetails(summary(report));
  return report;
}
