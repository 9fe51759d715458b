/**
 * What the credit pumps (creditPump.ts) and the settle pumps (settlePump.ts) share: how a run of their
 * long-lived activity is called, the cheap probe they make while runs fail, the backoff between failed
 * runs, how a failure reads in the pump's view, and when the pump continues as new.
 */
import { ActivityFailure, proxyActivities, proxyLocalActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities';

export const FAILURE_BACKOFF_BASE_MS = 1_000;
export const FAILURE_BACKOFF_MAX_MS = 30_000;
/**
 * The settle pump's cap: what it waits on is another cell coming back, usually a network cut of seconds,
 * and each failed try is one activity of a few milliseconds; at the credit pump's 30 s the outbox of a cut
 * that healed waited up to 30 s more before it drained (docs/cells.md, "Outage").
 */
export const SETTLE_FAILURE_BACKOFF_MAX_MS = 5_000;

export const pumpRuns = proxyActivities<Activities>({
  // The run's own clock ends it (CREDIT_PUMP_RUN_MS); the heartbeat is what notices a dead worker.
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '10 seconds',
  // A few quick retries here; a longer outage is the workflow's to report (its stuck flag) while it backs off.
  retry: { initialInterval: '500 milliseconds', maximumInterval: '5 seconds', maximumAttempts: 3 },
});

// While runs fail, one cheap look at the backlog per backoff step; it fails too when Postgres is away, and
// the pump then shows the last backlog it knew.
export const pumpProbe = proxyLocalActivities<Activities>({
  startToCloseTimeout: '5 seconds',
  retry: { maximumAttempts: 1 },
});

/** The backoff after one more failed run. */
export const nextBackoffMs = (backoffMs: number, maxMs = FAILURE_BACKOFF_MAX_MS): number =>
  Math.min(backoffMs * 2, maxMs);

/** What a failed run says in the pump's view: the activity's own error where there is one. */
export const failureMessage = (err: unknown): string =>
  err instanceof ActivityFailure && err.cause ? err.cause.message : String(err);

/** The view's line about a failing pump, empty while it is well. */
export function failingLines(view: { failingSinceMs: number | null; lastError: string | null }): string[] {
  return view.lastError
    ? [`failing since ${new Date(view.failingSinceMs ?? 0).toISOString()}: ${view.lastError}`]
    : [];
}

/** Temporal suggests it, or the history has passed the pump's own budget. */
export function historyFull(historyMaxEvents: number): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > historyMaxEvents;
}
