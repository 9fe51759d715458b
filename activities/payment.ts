/**
 * Pay (发): the `payPacket` activity debits the sender into the packet's own escrow and writes the packet row,
 * at most once per packet and never after the packet's payment was refused, then arms the grab gate.
 *
 * Temporal may run several attempts of the payment activity at once: an attempt that stalled (a network stall,
 * a paused VM) is not stopped by its timeout, and the retry runs beside it. Every attempt therefore starts by
 * locking the packet's row in `payment_decisions`, and the first attempt to reach a verdict writes it there in
 * the same transaction: `paid` with the debit, or `refused` when the wallet cannot cover the packet. An attempt
 * that finds a verdict obeys it, so a stale attempt that resumes after the workflow was told "insufficient
 * funds" cannot pay a packet that nothing would ever settle.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { pgErrorCode, type Db } from '../db';
import { ErrorCode } from '../domain/errors';
import { fingerprintOf } from '../packets/store/paymentDecision';
import { gateAudience } from '../packets/access';
import { armGate } from '../packets/gate/gate';
import type { RedisDeps } from '../redis';
import { paidPacketOf, type PacketInput, type PaidPacket } from '../saga';

type Refusal = typeof ErrorCode.InsufficientFunds | typeof ErrorCode.InvalidPacket;

const REFUSAL_MESSAGES: Record<Refusal, string> = {
  [ErrorCode.InsufficientFunds]: 'the wallet balance does not cover this packet',
  [ErrorCode.InvalidPacket]: 'the packet breaks a schema rule',
};

function refused(reason: Refusal, detail: string | null): ApplicationFailure {
  return ApplicationFailure.create({
    message: REFUSAL_MESSAGES[reason],
    type: reason,
    nonRetryable: true,
    // Postgres' own words (which rule, which amount), for the operator reading the failed update.
    details: detail ? [detail] : undefined,
  });
}

function idConflict(packetId: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `packet id ${packetId} belongs to another packet`,
    type: ErrorCode.PacketIdConflict,
    nonRetryable: true,
  });
}

interface PayVerdict {
  verdict: 'paid' | 'conflict' | 'refused';
  reason: Refusal | null;
  detail: string | null;
}

/**
 * Pays the packet unless it was paid or refused before; throws the refusal (non-retryable) when the wallet
 * cannot cover it now or could not before. Safe to run any number of times, concurrently: `pay_packet`
 * (db/functions/pay_packet.sql) takes the packet's decision row lock first and obeys a verdict it finds.
 */
export async function payOnce(db: Db, input: PacketInput): Promise<void> {
  const { rows } = await callPayPacket(db, input);
  const outcome = rows[0];
  if (!outcome) throw new Error('pay_packet returned no verdict');
  if (outcome.verdict === 'conflict') throw idConflict(input.packetId);
  if (outcome.verdict === 'refused')
    throw refused(outcome.reason ?? ErrorCode.InsufficientFunds, outcome.detail);
}

async function callPayPacket(db: Db, input: PacketInput) {
  try {
    return await db.query<PayVerdict>(
      'SELECT verdict, reason, detail FROM pay_packet($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)',
      [
        input.packetId,
        fingerprintOf(input),
        input.senderId,
        input.type,
        input.totalFen,
        input.count,
        input.greeting,
        input.recipientId,
        input.audience,
        input.expiresAtMs,
      ],
    );
  } catch (err) {
    // A value Postgres cannot even take as an argument (class 22, say a NUL in a text) fails before the
    // function runs, so no decision is written; every retry would fail the same way and none can pay.
    if (pgErrorCode(err)?.startsWith('22'))
      throw refused(ErrorCode.InvalidPacket, err instanceof Error ? err.message : null);
    throw err;
  }
}

export function createPaymentActivities(deps: { db: Db; redis: RedisDeps }) {
  const { db, redis } = deps;
  return {
    /**
     * Debits the sender into the packet's escrow and writes the packet row, in one transaction fenced by the
     * packet's payment decision (payOnce above), so an attempt that resumes after another was refused cannot pay.
     */
    async payPacket(input: PacketInput): Promise<PaidPacket & { armed: boolean }> {
      await payOnce(db, input);
      // Arming here saves a round trip through Temporal on the send path; if Redis is away the workflow arms
      // later and grabs fall back to Postgres meanwhile.
      const armed = await armGate(redis, {
        packetId: input.packetId,
        remainingCount: input.count,
        shareCount: input.count,
        expiresAtMs: input.expiresAtMs,
        claimedUserIds: [],
        audience: gateAudience(input),
      }).then(
        () => true,
        () => false,
      );
      return { ...paidPacketOf(input), armed };
    },
  };
}
