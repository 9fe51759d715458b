/** Waiting for the reconcile schedule's runs: each run's report, as its workflow returns it. */
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { createActivities } from '../../activities';
import { reconcileScheduleId, type ReconcileReport } from '../../saga';
import type { Harness } from './harness';

/** The reconcile schedule's activity over the harness's services, called directly: one run per call. */
export function reconcileNow(h: Harness): () => Promise<ReconcileReport> {
  const activities = createActivities({
    db: h.db,
    redis: h.redis,
    credit: h.config.credit,
    reconcile: {
      settings: h.config.reconcile,
      temporal: h.temporal.client,
      taskQueue: h.config.temporal.taskQueue,
    },
  });
  return () => activities.reconcile({ budgetMs: 30_000, adoptLimit: 200 });
}

export interface ScheduledRun {
  workflowId: string;
  report: ReconcileReport;
}

/**
 * Resolves with the first run that the schedule of `taskQueue` started after `afterMs` and whose report
 * satisfies `until`; fails past `timeoutMs`.
 */
export async function awaitScheduledRun(
  client: Client,
  taskQueue: string,
  afterMs: number,
  until: (report: ReconcileReport) => boolean = () => true,
  timeoutMs = 30_000,
): Promise<ScheduledRun> {
  const schedule = client.schedule.getHandle(reconcileScheduleId(taskQueue));
  const deadline = Date.now() + timeoutMs;
  const seen = new Set<string>();
  let last: ReconcileReport | undefined;
  while (Date.now() < deadline) {
    // A schedule not there yet (a worker's keeper creates it again after Temporal lost it) is waited for.
    const described = await schedule.describe().catch((err: unknown) => {
      if (err instanceof ScheduleNotFoundError) return undefined;
      throw err;
    });
    const info = described?.info ?? { recentActions: [] };
    for (const action of info.recentActions) {
      const { workflowId } = action.action.workflow;
      if (action.takenAt.getTime() <= afterMs || seen.has(workflowId)) continue;
      seen.add(workflowId);
      last = await client.workflow.getHandle<() => Promise<ReconcileReport>>(workflowId).result();
      if (until(last)) return { workflowId, report: last };
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`no reconcile run as expected within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

/** The violation lines of `check` in a report. */
export const linesOf = (report: ReconcileReport, check: string): string[] =>
  report.violations.filter((violation) => violation.check === check).map((violation) => violation.detail);
