/**
 * Adoption: a paid packet whose escrow holds money but whose workflow is gone (Temporal's state lost or
 * restored from an older backup, a workflow terminated by hand) gets `packet-<id>` back, started in recovery:
 * with a `carried` view read from Postgres, so it skips the payment and carries on as a continued run would
 * (workflows/packet.ts): an open packet waits for its expiry (or settles at once past it) and refunds the
 * exact rest with closeAndRefund; a closed one re-checks and waits for the pumps, which keep the credits.
 *
 * Exactly one workflow per packet. The start uses conflict policy FAIL, so a running workflow of the id
 * (the original, or another reconciler's adoption) is never joined nor replaced: the start fails with
 * WorkflowExecutionAlreadyStartedError and this call leaves the packet to it. The reuse policy is
 * ALLOW_DUPLICATE, because a closed workflow (completed against a Postgres restored to before its
 * settlement, or terminated) must be able to run again while its escrow holds money; whether it still does
 * is asked under the packet's row lock, held across the start, so the packet's own settlement cannot commit
 * in between: a run that settled it before the lock leaves an empty escrow and nothing is started, and a run
 * that has not cannot close before the start, which then fails as "already running".
 */
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Db } from '../db';
import {
  freshPacketView,
  PacketStatusKey,
  packetWorkflowId,
  SenderIdKey,
  type PacketInput,
  type PacketView,
} from '../saga';
import type { packetWorkflow } from '../workflows/packet';
import { readPacketMoney, type PacketMoney } from './store/adoption';
import { findPacket, type PacketRow } from './store/packets';

/** Fingerprints of decisions written before sends carried their own (packets/store/paymentDecision.ts). */
const OLDER_FINGERPRINT = /^(legacy$|fields:)/;
/** A stuck Temporal must not keep the packet's row locked: opens of the packet wait on it. */
const START_DEADLINE_MS = 5_000;
const ROW_LOCK_TIMEOUT = '2s';

export interface AdoptDeps {
  db: Db;
  client: Client;
  taskQueue: string;
  creditStuckAfterMs: number;
}

/** adopted: this call started the workflow; running: one was running; settled: nothing left to adopt. */
export type Adoption = 'adopted' | 'running' | 'settled';

/** The workflow's input, as the send built it, from the packet row and its payment decision. */
export function recoveredInput(
  packet: PacketRow,
  money: PacketMoney,
  creditStuckAfterMs: number,
): PacketInput {
  const fingerprint =
    money.fingerprint === null || OLDER_FINGERPRINT.test(money.fingerprint) ? undefined : money.fingerprint;
  return {
    packetId: packet.id,
    senderId: packet.senderId,
    type: packet.type,
    totalFen: packet.totalFen,
    count: packet.shareCount,
    greeting: packet.greeting,
    recipientId: packet.recipientId,
    audience: packet.audience,
    expiresAtMs: packet.expiresAt.getTime(),
    fingerprint,
    creditStuckAfterMs,
  };
}

/** What the workflow knows when it resumes: paid, its phase, what the pumps have credited, its refund. */
export function recoveredView(input: PacketInput, packet: PacketRow, money: PacketMoney): PacketView {
  return {
    ...freshPacketView(input),
    phase: packet.status === 'open' ? 'OPEN' : 'CLOSED',
    creditedCount: money.creditedCount,
    creditedFen: money.creditedFen,
    refundFen: packet.status === 'open' ? null : packet.refundFen,
  };
}

/**
 * Starts the packet's workflow in recovery unless one is running or the packet holds no escrow (or is not
 * open or closed: a finished packet holding escrow is the audit's to report, not a workflow's to settle).
 */
export async function adoptPacket(deps: AdoptDeps, packetId: string): Promise<Adoption> {
  return deps.db.withTransaction(async (tx) => {
    await tx.query(`SET LOCAL lock_timeout = '${ROW_LOCK_TIMEOUT}'`);
    const packet = await findPacket(tx, packetId, { lock: true });
    if (!packet) throw new Error(`packet ${packetId} does not exist`);
    const money = await readPacketMoney(tx, packetId);
    if (money.escrowFen === 0) return 'settled';
    if (packet.status !== 'open' && packet.status !== 'closed')
      throw new Error(`packet ${packetId} is ${packet.status} but holds ${money.escrowFen} fen in escrow`);
    const input = recoveredInput(packet, money, deps.creditStuckAfterMs);
    const view = recoveredView(input, packet, money);
    try {
      await deps.client.withDeadline(Date.now() + START_DEADLINE_MS, () =>
        deps.client.workflow.start<typeof packetWorkflow>('packetWorkflow', {
          workflowId: packetWorkflowId(packetId),
          taskQueue: deps.taskQueue,
          args: [input, view],
          workflowIdConflictPolicy: 'FAIL',
          workflowIdReusePolicy: 'ALLOW_DUPLICATE',
          typedSearchAttributes: [
            { key: PacketStatusKey, value: view.phase },
            { key: SenderIdKey, value: packet.senderId },
          ],
          staticSummary:
            `${packet.type} packet ${packetId}: adopted by reconciliation, ${money.escrowFen} fen in escrow, ` +
            `${packet.status} in Postgres`,
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return 'running';
      throw err;
    }
    return 'adopted';
  });
}
