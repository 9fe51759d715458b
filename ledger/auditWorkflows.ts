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
  created_at: string;
  snapshot_ms: number;
  candidates: number;
}

/** A packet whose escrow holds money. */
export interface EscrowHolder {
  packetId: string;
  status: string;
  balanceFen: number;
  /** Postgres' text of the packet's created_at: exact to the microsecond, unlike a Date, so a cursor holds. */
  createdAt: string;
}

/**
 * Why the packet's workflow is not running ("there is no workflow ...", "its workflow ... is TERMINATED since
 * ..."), or null when it is running or closed after `closedBeforeMs` (too late to judge). The adoption of
 * stranded packets (activities/adopt.ts) asks the same question, so what counts as stranded is written once.
 */
export async function whyNotRunning(
  client: Client,
  packetId: string,
  closedBeforeMs: number,
): Promise<string | null> {
  const workflowId = packetWorkflowId(packetId);
  try {
    const description = await client.withDeadline(Date.now() + DESCRIBE_TIMEOUT_MS, () =>
      client.workflow.getHandle(workflowId).describe(),
    );
    if (description.status.name === 'RUNNING') return null;
    const closeMs = description.closeTime?.getTime();
    if (closeMs !== undefined && closeMs > closedBeforeMs) return null;
    const since = description.closeTime ? ` since ${description.closeTime.toISOString()}` : '';
    return `its workflow ${workflowId} is ${description.status.name}${since}`;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return `there is no workflow ${workflowId}`;
    throw err;
  }
}

/** A violation detail for the packet, or null when its workflow is running (or closed too late to judge). */
async function judge(client: Client, packet: EscrowHolder, closedBeforeMs: number): Promise<string | null> {
  const why = await whyNotRunning(client, packet.packetId, closedBeforeMs);
  if (why === null) return null;
  return `packet ${packet.packetId} (${packet.status}) holds ${packet.balanceFen} fen in escrow, but ${why}`;
}

/** Where a scan of escrow holders stopped: the last packet it returned, in (created_at, id) order. */
export interface EscrowCursor {
  createdAt: string;
  packetId: string;
}

/**
 * Packets whose escrow holds money, oldest first (after `after` when given), with Postgres' clock at the
 * snapshot and how many there are in all.
 */
export async function listEscrowHolders(
  q: Queryable,
  options: { limit: number; after?: EscrowCursor | undefined },
): Promise<{ holders: EscrowHolder[]; snapshotMs: number; candidateCount: number }> {
  const { rows } = await q.query<Candidate>(
    `SELECT p.id AS packet_id, p.status, a.balance_fen, p.created_at::text AS created_at,
            (extract(epoch FROM now()) * 1000)::bigint AS snapshot_ms, count(*) OVER ()::int AS candidates
       FROM live_packets p JOIN accounts a ON a.id = escrow_account(p.id)
      WHERE a.balance_fen <> 0 AND ($2::timestamptz IS NULL OR (p.created_at, p.id) > ($2, $3))
      ORDER BY p.created_at, p.id
      LIMIT $1`,
    [options.limit, options.after?.createdAt ?? null, options.after?.packetId ?? null],
  );
  return {
    holders: rows.map((row) => ({
      packetId: row.packet_id,
      status: row.status,
      balanceFen: row.balance_fen,
      createdAt: row.created_at,
    })),
    snapshotMs: rows[0]?.snapshot_ms ?? 0,
    candidateCount: rows[0]?.candidates ?? 0,
  };
}

/** A packet holding escrow whose workflow is not running, and what the audit says about it. */
export interface StrandedPacket extends EscrowHolder {
  detail: string;
}

/**
 * Describes the holders' workflows, a few at a time, and returns the holders whose workflow is not running
 * (closed before `closedBeforeMs`, or missing). Throws any Temporal error other than "not found".
 */
export async function strandedAmong(
  client: Client,
  holders: EscrowHolder[],
  closedBeforeMs: number,
): Promise<StrandedPacket[]> {
  const stranded: StrandedPacket[] = [];
  let next = 0;
  const describeNext = async (): Promise<void> => {
    for (let packet = holders[next++]; packet; packet = holders[next++]) {
      const detail = await judge(client, packet, closedBeforeMs);
      if (detail) stranded.push({ ...packet, detail });
    }
  };
  await Promise.all(Array.from({ length: Math.min(DESCRIBES_IN_FLIGHT_MAX, holders.length) }, describeNext));
  return stranded;
}

/**
 * The audit's check: describes the workflows of the oldest `workflowsMax` packets holding escrow in `q`'s
 * snapshot. Any Temporal error other than "not found" skips the check (with the reason) rather than
 * reporting packets it could not judge.
 */
export async function checkWorkflows(
  q: Queryable,
  client: Client,
  thresholds: WorkflowThresholds,
): Promise<{ details: string[]; audit: WorkflowAudit }> {
  const { holders, snapshotMs, candidateCount } = await listEscrowHolders(q, {
    limit: thresholds.workflowsMax,
  });
  let stranded: StrandedPacket[];
  try {
    stranded = await strandedAmong(client, holders, snapshotMs - thresholds.workflowCloseSkewMs);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    return { details: [], audit: { status: 'skipped', reason: `Temporal error: ${reason}` } };
  }
  return {
    details: stranded.map((packet) => packet.detail),
    audit: { status: 'checked', checkedCount: holders.length, candidateCount },
  };
}
