/**
 * Creates the reconcile schedule (docs/reconciliation.md), idempotently: every worker calls this at start-up.
 * A schedule that exists is left alone unless its interval, task queue or input differ from this worker's
 * configuration, in which case it is updated, so changing RECONCILE_INTERVAL_MS takes effect at the next
 * deploy. Overlap SKIP: a run still going when the next is due makes that one skip, never stack.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleOverlapPolicy,
  type Client,
  type ScheduleOptionsStartWorkflowAction,
} from '@temporalio/client';
import type { Config } from '../config';
import { RECONCILE_WORKFLOW_TYPE, reconcileScheduleId, type ReconcileInput } from '../saga';
import type { reconcileWorkflow } from '../workflows/reconcile';

/** A run may use at most half its interval, so runs that are skipped are the exception. */
/**
 * Packets holding escrow a run asks Temporal about (one describe each), continuing where the last run stopped:
 * a whole backlog of orphans is adopted over a few runs, and an idle system pays for a handful of describes.
 */
export const RECONCILE_ADOPT_PER_RUN = 200;

export const reconcileInputFor = (intervalMs: number): ReconcileInput => ({
  budgetMs: Math.floor(intervalMs / 2),
  adoptLimit: RECONCILE_ADOPT_PER_RUN,
});

export async function ensureReconcileSchedule(
  client: Client,
  config: Pick<Config, 'reconcile' | 'temporal'>,
): Promise<'created' | 'updated' | 'unchanged'> {
  const scheduleId = reconcileScheduleId(config.temporal.taskQueue);
  const everyMs = config.reconcile.intervalMs;
  const args: [ReconcileInput] = [reconcileInputFor(everyMs)];
  const action: ScheduleOptionsStartWorkflowAction<typeof reconcileWorkflow> = {
    type: 'startWorkflow',
    workflowType: RECONCILE_WORKFLOW_TYPE,
    workflowId: scheduleId,
    taskQueue: config.temporal.taskQueue,
    args,
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: everyMs }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP },
    });
    return 'created';
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
  }
  const handle = client.schedule.getHandle(scheduleId);
  const description = await handle.describe();
  const current = description.action;
  const same =
    description.spec.intervals?.length === 1 &&
    description.spec.intervals[0]?.every === everyMs &&
    current.type === 'startWorkflow' &&
    current.taskQueue === config.temporal.taskQueue &&
    JSON.stringify(current.args) === JSON.stringify(args);
  if (same) return 'unchanged';
  await handle.update((previous) => ({
    ...previous,
    spec: { intervals: [{ every: everyMs }] },
    action,
    policies: { ...previous.policies, overlap: ScheduleOverlapPolicy.SKIP },
  }));
  return 'updated';
}
