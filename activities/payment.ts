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
import { PgErrorCode, pgErrorCode, type Db, type Tx } from '../db';
import { escrowAccount, transferIds, walletAccount } from '../domain/accounts';
import { ErrorCode, isDomainError } from '../domain/errors';
import { ensureWallet, openEscrow, postTransfer } from '../ledger/transfers';
import { decisionOwnedBy, fingerprintOf } from '../packets/store/paymentDecision';
import { gateAudience } from '../packets/access';
import { armGate } from '../packets/gate/gate';
import type { RedisDeps } from '../redis';
import { paidPacketOf, type PacketInput, type PaidPacket } from '../saga';

type Refusal = typeof ErrorCode.InsufficientFunds | typeof ErrorCode.InvalidPacket;

const REFUSAL_MESSAGES: Record<Refusal, string> = {
  [ErrorCode.InsufficientFunds]: 'the wallet balance does not cover this packet',
  [ErrorCode.InvalidPacket]: 'the packet breaks a schema rule',
};

interface Decision {
  fingerprint: string;
  outcome: 'paid' | 'refused' | null;
  reason: Refusal | null;
}

function refused(reason: Refusal, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    message: REFUSAL_MESSAGES[reason],
    type: reason,
    nonRetryable: true,
    cause: cause instanceof Error ? cause : undefined,
  });
}

function idConflict(packetId: string): ApplicationFailure {
  return ApplicationFailure.create({
    message: `packet id ${packetId} belongs to another packet`,
    type: ErrorCode.PacketIdConflict,
    nonRetryable: true,
  });
}

/** A refusal that retrying cannot change, or undefined for anything else (which Temporal retries). */
function refusalOf(err: unknown): Refusal | undefined {
  if (isDomainError(err, ErrorCode.InsufficientFunds)) return ErrorCode.InsufficientFunds;
  // A refused row (a CHECK, or a value Postgres cannot store, class 22) is a bad request that slipped past
  // validation.
  const code = pgErrorCode(err);
  if (code === PgErrorCode.CheckViolation || code?.startsWith('22')) return ErrorCode.InvalidPacket;
  return undefined;
}

/** Takes the packet's decision row (creating it undecided) and holds its lock until the transaction ends. */
async function lockDecision(tx: Tx, packetId: string, fingerprint: string): Promise<Decision> {
  const { rows } = await tx.query<Decision>(
    `INSERT INTO payment_decisions (packet_id, fingerprint) VALUES ($1, $2)
     ON CONFLICT (packet_id) DO UPDATE SET packet_id = EXCLUDED.packet_id
     RETURNING fingerprint, outcome, reason`,
    [packetId, fingerprint],
  );
  const decision = rows[0];
  if (!decision) throw new Error('payment_decisions returned no row');
  return decision;
}

async function debitIntoEscrow(tx: Tx, input: PacketInput): Promise<void> {
  await tx.query(
    `INSERT INTO packets (id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count,
       greeting, recipient_id, audience, expires_at)
     VALUES ($1, $2, $3, $4, $5, $4, $5, $6, $7, $8, to_timestamp($9::float8 / 1000))`,
    [
      input.packetId,
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
  await openEscrow(tx, input.packetId);
  await ensureWallet(tx, input.senderId);
  await postTransfer(tx, {
    id: transferIds.pay(input.packetId),
    debitAccountId: walletAccount(input.senderId),
    creditAccountId: escrowAccount(input.packetId),
    amountFen: input.totalFen,
    kind: 'pay',
    packetId: input.packetId,
  });
}

/**
 * Pays the packet unless it was paid or refused before; throws the refusal (non-retryable) when the wallet
 * cannot cover it now or could not before. Safe to run any number of times, concurrently.
 */
type Verdict =
  { kind: 'paid' } | { kind: 'conflict' } | { kind: 'refused'; refusal: Refusal; cause?: unknown };

export async function payOnce(db: Db, input: PacketInput): Promise<void> {
  const fingerprint = fingerprintOf(input);
  const verdict = await db.withTransaction(async (tx): Promise<Verdict> => {
    const decision = await lockDecision(tx, input.packetId, fingerprint);
    const ours = await decisionOwnedBy(tx, input.packetId, decision.fingerprint, input);
    // The id was handed out twice: answering "paid" here would let a send succeed without a debit.
    if (!ours) return { kind: 'conflict' };
    if (decision.outcome === 'paid') return { kind: 'paid' };
    if (decision.outcome === 'refused')
      return { kind: 'refused', refusal: decision.reason ?? ErrorCode.InsufficientFunds };

    // The savepoint lets a refusal undo the partial payment yet still commit the verdict under the same lock.
    await tx.query('SAVEPOINT pay');
    try {
      await debitIntoEscrow(tx, input);
    } catch (err) {
      const refusal = refusalOf(err);
      if (!refusal) throw err;
      await tx.query('ROLLBACK TO SAVEPOINT pay');
      await tx.query(
        `UPDATE payment_decisions SET outcome = 'refused', reason = $2, decided_at = now() WHERE packet_id = $1`,
        [input.packetId, refusal],
      );
      return { kind: 'refused', refusal, cause: err };
    }
    await tx.query(`UPDATE payment_decisions SET outcome = 'paid', decided_at = now() WHERE packet_id = $1`, [
      input.packetId,
    ]);
    return { kind: 'paid' };
  });
  if (verdict.kind === 'conflict') throw idConflict(input.packetId);
  if (verdict.kind === 'refused') throw refused(verdict.refusal, verdict.cause);
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
