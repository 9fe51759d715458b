/**
 * Send: validate, pre-allocate the packet id, and Update-with-Start the packet workflow so the answer carries
 * the payment outcome. With an Idempotency-Key the packet id is remembered in Postgres first, so any retry,
 * even after a crash between start and response, reaches the same workflow and cannot pay twice.
 */
import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config';
import type { Db } from '../db';
import { DomainError, ErrorCode } from '../domain/errors';
import { validateSendRequest, type SendRequest } from '../domain/limits';
import type { RedisDeps } from '../redis';
import type { TemporalDeps } from '../temporal/client';
import { packetWorkflowId, payUpdate, type PacketInput } from '../workflows/messages';
import type { packetWorkflow } from '../workflows/packet';
import { PacketStatusKey, SenderIdKey } from '../workflows/searchAttributes';
import { getPacketDetail, type PacketDetail } from './detail';
import { allocatePacketId } from './ids';

export interface SendDeps {
  config: Config;
  db: Db;
  redis: RedisDeps;
  temporal: TemporalDeps;
}

async function packetIdFor(
  deps: SendDeps,
  senderId: string,
  idempotencyKey: string | undefined,
): Promise<string> {
  const allocate = async () =>
    (await allocatePacketId({ db: deps.db, redis: deps.redis, region: deps.config.packet.region })).packetId;
  if (!idempotencyKey) return allocate();
  const known = await deps.db.query<{ packet_id: string }>(
    'SELECT packet_id FROM packet_requests WHERE sender_id = $1 AND idempotency_key = $2',
    [senderId, idempotencyKey],
  );
  if (known.rows[0]) return known.rows[0].packet_id;
  const candidate = await allocate();
  // Two concurrent first attempts race here; the loser adopts the winner's id.
  const { rows } = await deps.db.query<{ packet_id: string }>(
    `INSERT INTO packet_requests (sender_id, idempotency_key, packet_id) VALUES ($1, $2, $3)
     ON CONFLICT (sender_id, idempotency_key) DO UPDATE SET sender_id = EXCLUDED.sender_id RETURNING packet_id`,
    [senderId, idempotencyKey, candidate],
  );
  const packetId = rows[0]?.packet_id;
  if (!packetId) throw new Error('packet_requests returned no packet id');
  return packetId;
}

function insufficientFunds(cause: unknown): DomainError {
  return new DomainError(
    ErrorCode.InsufficientFunds,
    'the wallet balance does not cover this packet',
    {},
    { cause },
  );
}

export interface SendOptions {
  idempotencyKey?: string | undefined;
  /** Scaled-down sweep timing for tests; production uses the workflow's defaults. */
  sweep?: PacketInput['sweep'];
}

export async function sendPacket(
  deps: SendDeps,
  senderId: string,
  request: SendRequest,
  options: SendOptions = {},
): Promise<PacketDetail> {
  const { idempotencyKey } = options;
  const valid = validateSendRequest(senderId, request, deps.config.packet);
  const packetId = await packetIdFor(deps, senderId, idempotencyKey);
  const input: PacketInput = {
    packetId,
    senderId,
    type: valid.type,
    totalFen: valid.totalFen,
    count: valid.count,
    greeting: valid.greeting,
    recipientId: valid.recipientId,
    audience: valid.audience,
    expiresAtMs: Date.now() + valid.expiresInSeconds * 1000,
    creditStuckAfterMs: deps.config.packet.creditStuckAfterMs,
    sweep: options.sweep,
  };
  const start = new WithStartWorkflowOperation<typeof packetWorkflow>('packetWorkflow', {
    workflowId: packetWorkflowId(packetId),
    taskQueue: deps.temporal.taskQueue,
    args: [input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    // A finished packet's id is never reused: a late retry must see that packet, not start a new one.
    workflowIdReusePolicy: 'REJECT_DUPLICATE',
    typedSearchAttributes: [
      { key: PacketStatusKey, value: 'PAYING' },
      { key: SenderIdKey, value: senderId },
    ],
    staticSummary: `${valid.type} packet ${packetId}: ${valid.totalFen} fen in ${valid.count} shares from ${senderId}`,
  });
  try {
    await deps.temporal.client.workflow.executeUpdateWithStart(payUpdate, {
      updateId: idempotencyKey ? `pay-${idempotencyKey}` : `pay-${packetId}`,
      startWorkflowOperation: start,
    });
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError && err.cause instanceof ApplicationFailure) {
      if (err.cause.type === ErrorCode.InsufficientFunds) throw insufficientFunds(err);
      if (err.cause.type === ErrorCode.InvalidPacket) {
        throw new DomainError(ErrorCode.InvalidPacket, err.cause.message, {}, { cause: err });
      }
    }
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    // The workflow of this key already finished: answer with its outcome instead of starting anything.
    const description = await deps.temporal.client.workflow.getHandle(packetWorkflowId(packetId)).describe();
    if (description.status.name === 'FAILED') throw insufficientFunds(err);
  }
  const detail = await getPacketDetail(deps.db, packetId, senderId);
  if (!detail) throw new Error(`packet ${packetId} was paid but is not readable`);
  return detail;
}
