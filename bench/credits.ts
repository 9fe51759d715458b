/**
 * Credit measurements from the two sources of truth: Postgres for when each claim was opened and credited
 * (claims.created_at and credited_at, both clock_timestamp() of the same server), Temporal for what each
 * packet's workflow cost (events in its history, signals received, activities run).
 */
import type { Db } from '../db';
import type { WorkflowHandle } from '@temporalio/client';
import type { TemporalDeps } from '../temporal/client';
import { packetWorkflowId } from '../saga';
import { mapLimit } from './load';
import { sleep } from './progress';

const POLL_MS = 200;
const HISTORY_CONCURRENCY = 20;

export async function claimCount(db: Db, packetIds: readonly string[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM claims WHERE packet_id = ANY($1)',
    [packetIds],
  );
  return rows[0]?.n ?? 0;
}

export async function uncreditedCount(db: Db, packetIds: readonly string[]): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM claims WHERE packet_id = ANY($1) AND credited_at IS NULL',
    [packetIds],
  );
  return rows[0]?.n ?? 0;
}

/** Polls until every claim of the packets is credited; returns false when the deadline passes first. */
export async function waitForCredits(
  db: Db,
  packetIds: readonly string[],
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await uncreditedCount(db, packetIds)) === 0) return true;
    await sleep(POLL_MS);
  }
  return (await uncreditedCount(db, packetIds)) === 0;
}

export interface CreditTimes {
  /** Open (claim commit) to credit commit, per credited claim, ms. */
  lagsMs: number[];
  /** First open to last credit, ms: the window the credits were delivered in. */
  spanMs: number;
  uncredited: number;
}

export async function creditTimes(db: Db, packetIds: readonly string[]): Promise<CreditTimes> {
  const { rows } = await db.query<{ lag_ms: number | null; first_ms: number; last_ms: number | null }>(
    `SELECT (extract(epoch FROM credited_at - created_at) * 1000)::float8 AS lag_ms,
            (extract(epoch FROM min(created_at) OVER ()) * 1000)::float8 AS first_ms,
            (extract(epoch FROM max(credited_at) OVER ()) * 1000)::float8 AS last_ms
       FROM claims WHERE packet_id = ANY($1)`,
    [packetIds],
  );
  const lagsMs = rows.flatMap((row) => (row.lag_ms === null ? [] : [row.lag_ms]));
  const first = rows[0];
  return {
    lagsMs,
    spanMs: first && first.last_ms !== null ? first.last_ms - first.first_ms : 0,
    uncredited: rows.length - lagsMs.length,
  };
}

const CLOSED_POLL_MS = 200;

/**
 * Polls until the workflow is no longer running, or the deadline passes; true when it closed. Polling
 * describe() leaves no long poll open (unlike result()), so nothing is still waiting on the connection
 * when the bench closes it.
 */
export async function waitClosed(handle: WorkflowHandle, deadlineMs: number): Promise<boolean> {
  for (;;) {
    if ((await handle.describe()).status.name !== 'RUNNING') return true;
    if (Date.now() >= deadlineMs) return false;
    await sleep(CLOSED_POLL_MS);
  }
}

export interface HistoryTotals {
  workflows: number;
  completed: number;
  events: number;
  /** Events after the payment update completed: what crediting (and settling) cost. */
  creditEvents: number;
  signals: number;
  activities: number;
}

/**
 * Waits (bounded) for each packet's workflow to complete, then counts its history. Events are Temporal's
 * unit of work and storage, so events per credited claim is the cost of the credit path.
 */
export async function historyTotals(
  temporal: TemporalDeps,
  packetIds: readonly string[],
  waitMs: number,
): Promise<HistoryTotals> {
  const deadline = Date.now() + waitMs;
  const totals: HistoryTotals = {
    workflows: packetIds.length,
    completed: 0,
    events: 0,
    creditEvents: 0,
    signals: 0,
    activities: 0,
  };
  await mapLimit(packetIds, HISTORY_CONCURRENCY, async (packetId) => {
    const handle = temporal.client.workflow.getHandle(packetWorkflowId(packetId));
    if (await waitClosed(handle, deadline)) totals.completed++;
    const events = (await handle.fetchHistory()).events ?? [];
    totals.events += events.length;
    const paid = events.findIndex((event) => event.workflowExecutionUpdateCompletedEventAttributes);
    totals.creditEvents += events.length - (paid + 1);
    for (const event of events) {
      if (event.workflowExecutionSignaledEventAttributes) totals.signals++;
      if (event.activityTaskScheduledEventAttributes) totals.activities++;
    }
  });
  return totals;
}

export interface BatchSizes {
  batches: number;
  meanClaims: number;
  maxClaims: number;
}

/**
 * Credit batches that credited these packets' claims: claims credited in one transaction share the xmin
 * of that update, so grouping by xmin counts the pump's batches (settlement and sync credits included).
 */
export async function batchSizes(db: Db, packetIds: readonly string[]): Promise<BatchSizes> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM claims WHERE packet_id = ANY($1) AND credited_at IS NOT NULL
     GROUP BY xmin::text`,
    [packetIds],
  );
  const sizes = rows.map((row) => row.n);
  const total = sizes.reduce((sum, n) => sum + n, 0);
  return {
    batches: sizes.length,
    meanClaims: total / Math.max(1, sizes.length),
    maxClaims: Math.max(0, ...sizes),
  };
}

/** History events of the credit pumps (every run, across continue-as-new) against the claims credited. */
export async function pumpHistory(
  temporal: TemporalDeps,
  db: Db,
  pumpIds: readonly string[],
): Promise<{ events: number; runs: number; credited: number }> {
  let events = 0;
  let runs = 0;
  for (const workflowId of pumpIds) {
    for await (const execution of temporal.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      const history = await temporal.client.workflow.getHandle(workflowId, execution.runId).fetchHistory();
      events += history.events?.length ?? 0;
      runs++;
    }
  }
  const { rows } = await db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM claims WHERE credited_at IS NOT NULL',
  );
  return { events, runs, credited: rows[0]?.n ?? 0 };
}
