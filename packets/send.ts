/**
 * Send: validate, pre-allocate the packet id, and Update-with-Start the packet workflow so the answer carries
 * the payment outcome. With an Idempotency-Key the packet id is remembered in Postgres first, so any retry,
 * even after a crash between start and response, reaches the same workflow and cannot pay twice.
 */
import { createHash, randomUUID } from 'node:crypto';
import {
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Config } from '../config';
import { PgErrorCode, pgErrorCode, type Db } from '../db';
import { DomainError, ErrorCode } from '../domain/errors';
import { validateSendRequest, type SendRequest } from '../domain/limits';
import type { RedisDeps } from '../redis';
import type { TemporalDeps } from '../temporal/client';
import {
  packetWorkflowId,
  PacketStatusKey,
  payUpdate,
  SenderIdKey,
  type PacketInput,
  type PaidPacket,
} from '../saga';
import type { packetWorkflow } from '../workflows/packet';
import { getPacketDetail, type PacketDetail } from './detail';
import { allocatePacketId } from './gate/ids';
import { decisionOwnedBy, type SendIdentity } from './store/paymentDecision';
import { decisionFingerprintOf, forgetKeyPacketId, rememberKeyPacketId } from './store/send';

export interface SendDeps {
  config: Config;
  db: Db;
  redis: RedisDeps;
  temporal: TemporalDeps;
}

/** Fresh ids tried when the allocator hands out one that another key already holds. */
const ID_ALLOCATION_ATTEMPTS = 3;

async function packetIdFor(
  deps: SendDeps,
  senderId: string,
  idempotencyKey: string | undefined,
  requestHash: string,
): Promise<string> {
  const allocate = async () =>
    (await allocatePacketId({ db: deps.db, redis: deps.redis, region: deps.config.packet.region })).packetId;
  if (!idempotencyKey) return allocate();
  for (let attempt = 1; ; attempt++) {
    const candidate = await allocate();
    try {
      return await rememberPacketId(deps.db, senderId, idempotencyKey, candidate, requestHash);
    } catch (err) {
      // The candidate is another key's packet (the allocator rewound): nothing was paid, take a fresh id.
      const takenByAnotherKey =
        pgErrorCode(err) === PgErrorCode.UniqueViolation && attempt < ID_ALLOCATION_ATTEMPTS;
      if (!takenByAnotherKey) throw err;
    }
  }
}

/** Two concurrent first attempts of one key race here; the loser adopts the winner's id. */
async function rememberPacketId(
  db: Db,
  senderId: string,
  idempotencyKey: string,
  candidate: string,
  requestHash: string,
): Promise<string> {
  const row = await rememberKeyPacketId(db, senderId, idempotencyKey, candidate, requestHash);
  if (row.requestHash !== null && row.requestHash !== requestHash) {
    throw new DomainError(
      ErrorCode.IdempotencyKeyReused,
      'this Idempotency-Key was used for a different packet',
    );
  }
  return row.packetId;
}

/** Business refusals a send answers with, from the failed update or the failed workflow of an earlier try. */
function refusalOf(err: unknown): DomainError | undefined {
  const cause =
    err instanceof WorkflowUpdateFailedError || err instanceof WorkflowFailedError ? err.cause : undefined;
  if (!(cause instanceof ApplicationFailure)) return undefined;
  if (cause.type === ErrorCode.InsufficientFunds) return insufficientFunds(err);
  if (cause.type === ErrorCode.InvalidPacket)
    return new DomainError(ErrorCode.InvalidPacket, cause.message, {}, { cause: err });
  return undefined;
}

function isIdCollision(err: unknown): boolean {
  const cause =
    err instanceof WorkflowUpdateFailedError || err instanceof WorkflowFailedError ? err.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type === ErrorCode.PacketIdConflict;
}

function insufficientFunds(cause: unknown): DomainError {
  return new DomainError(
    ErrorCode.InsufficientFunds,
    'the wallet balance does not cover this packet',
    {},
    { cause },
  );
}

/**
 * The pre-allocated id was already another packet's (a Redis counter rewound). Nothing was paid; forget the
 * key's id so the client's retry allocates a fresh one, and fail this attempt.
 */
async function collided(
  deps: SendDeps,
  senderId: string,
  idempotencyKey: string | undefined,
  packetId: string,
  cause: unknown,
): Promise<never> {
  if (idempotencyKey) {
    await forgetKeyPacketId(deps.db, senderId, idempotencyKey, packetId);
  }
  throw new DomainError(
    ErrorCode.PaymentPending,
    'the packet id was taken; retry to send',
    { packetId },
    { cause },
  );
}

/** Whether the packet's payment decision, if any, belongs to this send (packets/store/paymentDecision.ts). */
async function decidedFor(db: Db, packetId: string, send: SendIdentity): Promise<boolean> {
  const stored = await decisionFingerprintOf(db, packetId);
  return stored === undefined || (await decisionOwnedBy(db, packetId, stored, send));
}

/**
 * Whether the packet a running workflow answered for is this send's. A workflow started before fingerprints
 * answers none: calling that "id taken" dropped the key's packet id, and the next retry paid a second packet,
 * so its decision row (written as `fields:...`, or `legacy`) is asked instead, by the rule the payment obeys.
 */
async function paidForThisSend(
  db: Db,
  paid: PaidPacket,
  send: SendIdentity,
  keyed: boolean,
): Promise<boolean> {
  if (paid.fingerprint !== undefined) return paid.fingerprint === send.fingerprint;
  if (await decidedFor(db, paid.packetId, send)) return true;
  // The key's row names this packet and the sender is the same: it is the key's packet, sent with other
  // fields (a row from before request hashes cannot tell). Dropping the id would let the next retry pay again.
  if (keyed && paid.senderId === send.senderId) {
    throw new DomainError(
      ErrorCode.IdempotencyKeyReused,
      'this Idempotency-Key was used for a different packet',
    );
  }
  return false;
}

export interface SendOptions {
  idempotencyKey?: string | undefined;
  /** Scaled-down sweep timing for tests; production uses the workflow's defaults. */
  sweep?: PacketInput['sweep'];
  /** A scaled-down history budget for tests; production uses the workflow's default. */
  historyMaxEvents?: PacketInput['historyMaxEvents'];
}

export async function sendPacket(
  deps: SendDeps,
  senderId: string,
  request: SendRequest,
  options: SendOptions = {},
): Promise<PacketDetail> {
  const { idempotencyKey } = options;
  const valid = validateSendRequest(senderId, request, deps.config.packet);
  const requestHash = createHash('sha256')
    .update(JSON.stringify([senderId, valid]))
    .digest('hex');
  const packetId = await packetIdFor(deps, senderId, idempotencyKey, requestHash);
  // The same key and request always make the same fingerprint, so a retry recognises its own packet; a send
  // without a key is unique by its nonce, so it can never adopt a packet that another send paid.
  const fingerprint = createHash('sha256')
    .update(JSON.stringify([idempotencyKey ?? `nonce:${randomUUID()}`, requestHash]))
    .digest('hex');
  const { expiresInSeconds, ...packet } = valid;
  const input: PacketInput = {
    ...packet,
    packetId,
    senderId,
    fingerprint,
    expiresAtMs: Date.now() + expiresInSeconds * 1000,
    creditStuckAfterMs: deps.config.packet.creditStuckAfterMs,
    sweep: options.sweep,
    historyMaxEvents: options.historyMaxEvents,
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
  const handle = deps.temporal.client.workflow.getHandle(packetWorkflowId(packetId));
  let paid: PaidPacket | undefined;
  try {
    // The deadline bounds the wait on Temporal (SEND_DEADLINE_MS); how many sends wait at once is bounded
    // by the send budget in front of the API (api/overload/admission.ts), so a Temporal backlog is refused
    // there with 503 overloaded instead of queueing here.
    paid = await deps.temporal.client.withDeadline(Date.now() + deps.config.overload.sendDeadlineMs, () =>
      deps.temporal.client.workflow.executeUpdateWithStart(payUpdate, {
        updateId: idempotencyKey ? `pay-${idempotencyKey}` : `pay-${packetId}`,
        startWorkflowOperation: start,
      }),
    );
  } catch (err) {
    const refusal = refusalOf(err);
    if (refusal) throw refusal;
    if (isIdCollision(err)) return collided(deps, senderId, idempotencyKey, packetId, err);
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) {
      // Temporal is slow or away and the payment may or may not have started: the client retries with
      // the same Idempotency-Key, which reaches this same packet id and workflow.
      throw new DomainError(
        ErrorCode.PaymentPending,
        'the payment is still being processed; retry shortly',
        { packetId },
        { cause: err },
      );
    }
    // The workflow of this id already finished. If it was this send's, answer with its outcome instead of
    // starting anything; if the id was handed out twice, that outcome (paid or refused) is another send's.
    if (!(await decidedFor(deps.db, packetId, { fingerprint, senderId, ...valid })))
      return collided(deps, senderId, idempotencyKey, packetId, err);
    try {
      await handle.result();
    } catch (failed) {
      const earlier = refusalOf(failed);
      if (earlier) throw earlier;
      if (isIdCollision(failed)) return collided(deps, senderId, idempotencyKey, packetId, failed);
      throw failed;
    }
  }
  const send = { fingerprint, senderId, ...valid };
  if (paid && !(await paidForThisSend(deps.db, paid, send, idempotencyKey !== undefined))) {
    return collided(deps, senderId, idempotencyKey, packetId, undefined);
  }
  const detail = await getPacketDetail(deps.db, packetId, senderId);
  if (!detail) throw new Error(`packet ${packetId} was paid but is not readable`);
  return detail;
}
