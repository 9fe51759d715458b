/**
 * The audit's one check outside Postgres: money in a packet's escrow is only ever moved out by that
 * packet's workflow (`packet-<id>`, saga/messages.ts), so a packet holding escrow must have one
 * running. A packet paid by an attempt that outlived its workflow (issue 13, finding 1), or whose workflow
 * was terminated, keeps consistent books and strands its money; only Temporal can tell.
 *
 * Bounded: it describes at most `workflowsMax` packets per run (oldest first, since a stranded packet only
 * grows older than the live ones), a few at a time, each under a deadline. The expired-packet check in
 * Postgres catches whatever the cap leaves out once its expiry has passed.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Queryable } from '../db';
import { packetWorkflowId } from '../saga';

export const WorkflowCheck = {
  EscrowHasLiveWorkflow: 'escrow_has_live_workflow',
} as const;

export type WorkflowCheck = (typeof WorkflowCheck)[keyof typeof WorkflowCheck];

/** Packets described per run: a few seconds of describes at most, whatever the backlog. */
export const WORKFLOWS_CHECKED_MAX = 500;
/**
 * A workflow that closed after the audit's snapshot may have settled the packet after the snapshot read
 * its escrow, so only workflows closed this long before the snapshot count; the margin absorbs clock skew
 * between Temporal's and Postgres' hosts.
 */
export const WORKFLOW_CLOSE_SKEW_MS = 5_000;
const DESCRIBES_IN_FLIGHT_MAX = 8;
const DESCRIBE_TIMEOUT_MS = 5_000;

export interface WorkflowThresholds {
  workflowsMax: number;
  workflowCloseSkewMs: number;
}

/** What the check did: how many packets it described of those holding escrow, or why it could not run. */
export type WorkflowAudit =
  { status: 'checked'; checkedCount: number; candidateCount: number } | { status: 'skipped'; reason: string };

interface Candidate {
  packet_id: string;
  status: string;
  balance_fen: number;
  snapshot_ms: number;
  candidates: number;
}

/** Returns a violation detail for the packet, or null when its workflow is running (or closed too late to judge). */
async function judge(client: Client, packet: Candidate, closedBeforeMs: number): Promise<string | null> {
  const workflowId = packetWorkflowId(packet.packet_id);
  const holding = `packet ${packet.packet_id} (${packet.status}) holds ${packet.balance_fen} fen in escrow`;
  try {
    const description = await client.withDeadline(Date.now() + DESCRIBE_TIMEOUT_MS, () =>
      client.workflow.getHandle(workflowId).describe(),
    );
    if (description.status.name === 'RUNNING') return null;
    const closeMs = description.closeTime?.getTime();
    if (closeMs !== undefined && closeMs > closedBeforeMs) return null;
    const since = description.closeTime ? ` since ${description.closeTime.toISOString()}` : '';
    return `${holding}, but its workflow ${workflowId} is ${description.status.name}${since}`;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return `${holding}, but there is no workflow ${workflowId}`;
    throw err;
  }
}

/**
 * Describes the workflows of the oldest packets holding escrow in `q`'s snapshot. Any Temporal error other
 * than "not found" skips the check (with the reason) rather than reporting packets it could not judge.
 */
export async function checkWorkflows(
  q: Queryable,
  client: Client,
  thresholds: WorkflowThresholds,
): Promise<{ details: string[]; audit: WorkflowAudit }> {
  const { rows } = await q.query<Candidate>(
    `SELECT p.id AS packet_id, p.status, a.balance_fen,
            (extract(epoch FROM now()) * 1000)::bigint AS snapshot_ms, count(*) OVER ()::int AS candidates
       FROM packets p JOIN accounts a ON a.id = 'escrow:' || p.id
      WHERE a.balance_fen <> 0
      ORDER BY p.created_at, p.id
      LIMIT $1`,
    [thresholds.workflowsMax],
  );
  const closedBeforeMs = (rows[0]?.snapshot_ms ?? 0) - thresholds.workflowCloseSkewMs;
  const details: string[] = [];
  let next = 0;
  const describeNext = async (): Promise<void> => {
    for (let packet = rows[next++]; packet; packet = rows[next++]) {
      const detail = await judge(client, packet, closedBeforeMs);
      if (detail) details.push(detail);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(DESCRIBES_IN_FLIGHT_MAX, rows.length) }, describeNext));
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { details: [], audit: { status: 'skipped', reason: `Temporal error: ${reason}` } };
  }
  return {
    details,
    audit: { status: 'checked', checkedCount: rows.length, candidateCount: rows[0]?.candidates ?? 0 },
  };
}
