/**
 * Adoption of orphaned packets (issue 25), run by the reconciliation: paid packets holding escrow whose
 * workflow is not running get `packet-<id>` back in recovery (packets/adopt.ts), and payments that nobody
 * decided are decided the way the payment's fence decides them (packets/store/paymentDecision.ts).
 *
 * What counts as stranded is the audit's rule (ledger/auditWorkflows.ts, escrow_has_live_workflow): the
 * workflow is missing, or closed longer than WORKFLOW_CLOSE_SKEW_MS before Postgres' snapshot. Each call
 * describes at most `limit` packets holding escrow, continuing from where this process's previous call
 * stopped (oldest first, starting over at the end), so live packets older than the orphans cannot hide them
 * from a bounded call. The scan position is per process and lost on restart, which only restarts the scan.
 */
import { Context } from '@temporalio/activity';
import type { CreditSettings } from '../config';
import type { Db } from '../db';
import {
  listEscrowHolders,
  strandedAmong,
  whyNotRunning,
  WORKFLOW_CLOSE_SKEW_MS,
  type EscrowCursor,
} from '../ledger/auditWorkflows';
import { adoptPacket, type AdoptDeps } from '../packets/adopt';
import { listUndecidedPayments } from '../packets/store/adoption';
import { refuseUndecidedPayment } from '../packets/store/paymentDecision';

export interface AdoptInput {
  /** Packets holding escrow described per call, and undecided payments looked at per call. */
  limit: number;
}

export interface AdoptResult {
  /** Packets whose workflow this call started. */
  adopted: string[];
  /** Undecided payments this call decided (refused: nothing had been paid). */
  resolvedPayments: string[];
  failed: { packetId: string; error: string }[];
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export function createAdoptActivities(deps: { db: Db; credit: CreditSettings }) {
  const { db } = deps;
  let cursor: EscrowCursor | undefined;

  /** The next page of packets holding escrow after this process's scan position; moves the position. */
  async function nextHolders(limit: number) {
    const page = await listEscrowHolders(db, { limit, after: cursor });
    const last = page.holders[page.holders.length - 1];
    cursor = page.holders.length < limit || !last ? undefined : last;
    return page;
  }

  async function adoptStranded(adopt: AdoptDeps, limit: number, result: AdoptResult): Promise<void> {
    const { holders, snapshotMs } = await nextHolders(limit);
    const stranded = await strandedAmong(adopt.client, holders, snapshotMs - WORKFLOW_CLOSE_SKEW_MS);
    for (const packet of stranded) {
      try {
        if ((await adoptPacket(adopt, packet.packetId)) === 'adopted') result.adopted.push(packet.packetId);
      } catch (err) {
        result.failed.push({ packetId: packet.packetId, error: messageOf(err) });
      }
    }
  }

  async function resolveUndecided(adopt: AdoptDeps, limit: number, result: AdoptResult): Promise<void> {
    const { rows } = await db.query<{ now_ms: number }>(
      'SELECT (extract(epoch FROM now()) * 1000)::bigint AS now_ms',
    );
    const closedBeforeMs = (rows[0]?.now_ms ?? 0) - WORKFLOW_CLOSE_SKEW_MS;
    for (const packetId of await listUndecidedPayments(db, limit)) {
      try {
        // A send whose workflow still runs is deciding its own payment: the fence is its to write.
        if ((await whyNotRunning(adopt.client, packetId, closedBeforeMs)) === null) continue;
        if (await refuseUndecidedPayment(db, packetId)) result.resolvedPayments.push(packetId);
      } catch (err) {
        result.failed.push({ packetId, error: messageOf(err) });
      }
    }
  }

  return {
    /**
     * Adopts stranded packets and decides abandoned payments; a packet that fails is listed with its error
     * and tried again by the next call. Temporal or Postgres being away fails the call (retried).
     */
    async adoptOrphanedPackets(input: AdoptInput): Promise<AdoptResult> {
      const context = Context.current();
      const adopt: AdoptDeps = {
        db,
        client: context.client,
        // Packet workflows run on the task queue of the worker that runs this activity (workers/main.ts).
        taskQueue: context.info.taskQueue,
        creditStuckAfterMs: deps.credit.stuckAfterMs,
      };
      const result: AdoptResult = { adopted: [], resolvedPayments: [], failed: [] };
      await adoptStranded(adopt, input.limit, result);
      await resolveUndecided(adopt, input.limit, result);
      return result;
    },
  };
}
