/**
 * What Temporal says once healed: no workflow failed except packets whose payment was refused (a 402 ends
 * its workflow FAILED by design), none timed out or was terminated, nothing still backing off to retry an
 * activity, no packet workflow still running for a packet past expiry, and `CreditStuck` false everywhere.
 */
import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { invariant, type Invariant } from './checker';
import type { Facts } from './facts';

const PACKET_PREFIX = 'packet-';
/** PendingActivityState.STARTED: an activity that runs now is not one waiting out a retry backoff. */
const ACTIVITY_STARTED = 2;

async function listAll(client: Client, query: string): Promise<WorkflowExecutionInfo[]> {
  const found: WorkflowExecutionInfo[] = [];
  for await (const info of client.workflow.list({ query })) found.push(info);
  return found;
}

export async function stuckCount(client: Client): Promise<number> {
  return (await client.workflow.count('CreditStuck = true')).count;
}

export interface StuckPeak {
  count: number;
  /** Offset from the start of the load. */
  atMs: number;
}

/**
 * Samples `CreditStuck = true` while the faults run, so the report shows that it was raised (the checker
 * then proves it cleared); a sample that fails (Temporal down) is skipped. Stop it with the returned call.
 */
export function watchCreditStuck(client: Client, loadStartMs: number, everyMs = 2_000): () => StuckPeak {
  const peak: StuckPeak = { count: 0, atMs: 0 };
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    stuckCount(client)
      .then((count) => {
        if (count > peak.count) Object.assign(peak, { count, atMs: Date.now() - loadStartMs });
      })
      .catch(() => undefined)
      .finally(() => (busy = false));
  }, everyMs);
  return () => {
    clearInterval(timer);
    return peak;
  };
}

async function retrying(client: Client, info: WorkflowExecutionInfo): Promise<string[]> {
  const described = await client.workflow.getHandle(info.workflowId, info.runId).describe();
  return (described.raw.pendingActivities ?? [])
    .filter((activity) => (activity.attempt ?? 1) > 1 && Number(activity.state) !== ACTIVITY_STARTED)
    .map(
      (activity) =>
        `${info.workflowId}: ${activity.activityType?.name} attempt ${activity.attempt} waiting to retry ` +
        `(${activity.lastFailure?.message ?? 'no failure message'})`,
    );
}

export async function checkWorkflows(client: Client, facts: Facts): Promise<Invariant[]> {
  const failed: string[] = [];
  for (const info of await listAll(
    client,
    'ExecutionStatus != "Running" AND ExecutionStatus != "Completed"',
  )) {
    const status = info.status.name;
    if (status === 'CONTINUED_AS_NEW') continue;
    const packetId = info.workflowId.startsWith(PACKET_PREFIX)
      ? info.workflowId.slice(PACKET_PREFIX.length)
      : '';
    // A refused payment (402), or a send whose id another key already held, never wrote a packet row.
    const refused =
      status === 'FAILED' &&
      packetId !== '' &&
      (facts.refusedPayments.has(packetId) || !facts.packets.has(packetId));
    if (!refused) failed.push(`${info.workflowId} ${status}`);
  }
  const stillRunning: string[] = [];
  for (const info of await listAll(client, 'ExecutionStatus = "Running"')) {
    stillRunning.push(...(await retrying(client, info)));
    const packet = facts.packets.get(info.workflowId.slice(PACKET_PREFIX.length));
    if (info.workflowId.startsWith(PACKET_PREFIX) && packet?.expired)
      stillRunning.push(`${info.workflowId} running for an expired, ${packet.status} packet`);
  }
  const stuck = await listAll(client, 'CreditStuck = true');
  return [
    invariant(
      'workflows_not_failed',
      'no workflow failed, timed out or was terminated, but refused payments',
      failed,
    ),
    invariant(
      'workflows_not_retrying',
      'no running workflow is waiting to retry an activity, none stuck past expiry',
      stillRunning,
    ),
    invariant(
      'credit_stuck_clear',
      'CreditStuck is false on every workflow after the heal',
      stuck.map((info) => `${info.workflowId} (${info.status.name})`),
    ),
  ];
}
