/** Runs the production adoption the way a worker does, outside a workflow, and reads what it left. */
import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import type { AdoptResult } from '../../activities/adopt';
import { packetWorkflowId } from '../../saga';
import type { Harness } from './harness';

/**
 * A reconciler: its own activity instance (like a worker process, with its own scan position) run in an
 * activity context on the harness's client and task queue.
 */
export function reconciler(w: Harness): { adopt(limit?: number): Promise<AdoptResult> } {
  const activities = createActivities({ db: w.db, redis: w.redis, credit: w.config.credit });
  return {
    adopt(limit = 100) {
      const env = new MockActivityEnvironment(
        { taskQueue: w.config.temporal.taskQueue },
        { client: w.temporal.client },
      );
      return env.run((input: { limit: number }) => activities.adoptOrphanedPackets(input), { limit });
    },
  };
}

/** Every run of the packet's workflow id that visibility lists, once it lists at least one. */
export async function runsOf(w: Harness, packetId: string): Promise<string[]> {
  const query = `WorkflowId = '${packetWorkflowId(packetId)}'`;
  for (let attempt = 0; ; attempt++) {
    const runs: string[] = [];
    for await (const execution of w.temporal.client.workflow.list({ query })) runs.push(execution.runId);
    if (runs.length > 0 || attempt >= 50) return runs;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The refund transfer's time and the packet's expiry, both by Postgres' clock. */
export async function refundTiming(
  w: Harness,
  packetId: string,
): Promise<{ refundFen: number; refundedAtMs: number; expiresAtMs: number } | undefined> {
  const { rows } = await w.db.query<{ amount_fen: number; refunded_ms: number; expires_ms: number }>(
    `SELECT t.amount_fen, (extract(epoch FROM t.created_at) * 1000)::bigint AS refunded_ms,
            (extract(epoch FROM p.expires_at) * 1000)::bigint AS expires_ms
       FROM transfers t JOIN packets p ON p.id = t.packet_id
      WHERE t.id = 'refund:' || $1`,
    [packetId],
  );
  const row = rows[0];
  return row && { refundFen: row.amount_fen, refundedAtMs: row.refunded_ms, expiresAtMs: row.expires_ms };
}
