/**
 * The packet saga's effects on Postgres and Redis: pay into escrow, arm the gate, credit claims in waves,
 * and settle at expiry. Every one is idempotent (transfer ids are the keys), so Temporal may retry any of
 * them at any point, including after a commit whose acknowledgement was lost.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Db } from '../db';
import { escrowAccount, transferIds, walletAccount } from '../domain/accounts';
import { ErrorCode } from '../domain/errors';
import { sumFen } from '../domain/money';
import { ensureWallets, postTransfer, postTransfers } from '../ledger/transfers';
import { payOnce } from './payment';
import { gateAudience } from '../packets/access';
import { armGateFromPostgres, armGate, exhaustGate, removeGate } from '../packets/gate';
import {
  countUncredited,
  findPacket,
  listClaims,
  lockUncreditedClaims,
  type ClaimRow,
} from '../packets/store';
import type { RedisDeps } from '../redis';
import { paidPacketOf, type PacketInput, type PaidPacket } from '../workflows/messages';

export interface CreditWaveResult {
  creditedClaimIds: string[];
  creditedFen: number;
  /** Claims still uncredited after this wave (opened while it ran). */
  uncreditedCount: number;
  remainingCount: number;
  finished: boolean;
}

export interface SettleResult {
  creditedClaimIds: string[];
  creditedFen: number;
  refundFen: number;
}

function creditTransfers(packetId: string, claims: ClaimRow[]) {
  return claims.map((claim) => ({
    id: transferIds.credit(claim.id),
    debitAccountId: escrowAccount(packetId),
    creditAccountId: walletAccount(claim.userId),
    amountFen: claim.amountFen,
    kind: 'credit' as const,
    packetId,
    claimId: claim.id,
  }));
}

async function creditLocked(
  tx: Parameters<Parameters<Db['withTransaction']>[0]>[0],
  packetId: string,
  claims: ClaimRow[],
): Promise<number> {
  if (claims.length === 0) return 0;
  await ensureWallets(
    tx,
    claims.map((claim) => claim.userId),
  );
  await postTransfers(tx, creditTransfers(packetId, claims));
  await tx.query('UPDATE claims SET credited_at = clock_timestamp() WHERE id = ANY($1::text[])', [
    claims.map((claim) => claim.id),
  ]);
  return sumFen(claims.map((claim) => claim.amountFen));
}

export function createPacketActivities(deps: { db: Db; redis: RedisDeps }) {
  const { db, redis } = deps;

  return {
    /**
     * Debits the sender into the packet's escrow and writes the packet row, in one transaction fenced by the
     * packet's payment decision (payment.ts), so an attempt that resumes after another was refused cannot pay.
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

    async armPacketGate(packetId: string): Promise<void> {
      await armGateFromPostgres(db, redis, packetId);
    },

    /** One credit wave: every uncredited claim of the packet, in one transaction, idempotently per claim. */
    async creditClaims(packetId: string): Promise<CreditWaveResult> {
      const result = await db.withTransaction(async (tx) => {
        const claims = await lockUncreditedClaims(tx, packetId);
        const creditedFen = await creditLocked(tx, packetId, claims);
        const packet = await findPacket(tx, packetId);
        if (!packet)
          throw ApplicationFailure.nonRetryable(
            `packet ${packetId} does not exist`,
            ErrorCode.PacketNotFound,
          );
        let finished = packet.status === 'finished';
        let uncreditedCount = 0;
        if (!finished && packet.remainingCount === 0) {
          // No share is left, so no open can add a claim once we hold the row: the claim set is final.
          await findPacket(tx, packetId, { lock: true });
          uncreditedCount = await countUncredited(tx, packetId);
          if (uncreditedCount === 0) {
            await tx.query(
              `UPDATE packets SET status = 'finished', refund_fen = 0, closed_at = now() WHERE id = $1`,
              [packetId],
            );
            finished = true;
          }
        } else if (!finished) {
          uncreditedCount = await countUncredited(tx, packetId);
        }
        return {
          creditedClaimIds: claims.map((claim) => claim.id),
          creditedFen,
          uncreditedCount,
          remainingCount: packet.remainingCount,
          finished,
        };
      });
      // The exhausted gate stays until its TTL so late grabs are still answered by Redis (seed 003).
      if (result.finished) await exhaustGate(redis, packetId).catch(() => undefined);
      return result;
    },

    /** Cheap look for claims whose signal was lost; run as a local activity on the sweep timer. */
    async pendingCredits(packetId: string): Promise<{ uncreditedCount: number }> {
      return { uncreditedCount: await countUncredited(db, packetId) };
    },

    /**
     * At expiry: closes the packet under its row lock (no open can commit after), credits what is left,
     * refunds total minus claims to the sender exactly once, and finishes the packet.
     */
    async settlePacket(packetId: string): Promise<SettleResult> {
      const result = await db.withTransaction(async (tx) => {
        const packet = await findPacket(tx, packetId, { lock: true });
        if (!packet)
          throw ApplicationFailure.nonRetryable(
            `packet ${packetId} does not exist`,
            ErrorCode.PacketNotFound,
          );
        if (packet.status === 'finished')
          return { creditedClaimIds: [], creditedFen: 0, refundFen: packet.refundFen ?? 0 };
        const claims = await lockUncreditedClaims(tx, packetId);
        const creditedFen = await creditLocked(tx, packetId, claims);
        const claimedFen = sumFen((await listClaims(tx, packetId)).map((claim) => claim.amountFen));
        const refundFen = packet.totalFen - claimedFen;
        if (refundFen < 0) throw new Error(`packet ${packetId} claims exceed its total`); // the audit's invariant
        if (refundFen > 0) {
          await postTransfer(tx, {
            id: transferIds.refund(packetId),
            debitAccountId: escrowAccount(packetId),
            creditAccountId: walletAccount(packet.senderId),
            amountFen: refundFen,
            kind: 'refund',
            packetId,
          });
        }
        await tx.query(
          `UPDATE packets SET status = 'finished', refund_fen = $2, closed_at = now() WHERE id = $1`,
          [packetId, refundFen],
        );
        return { creditedClaimIds: claims.map((claim) => claim.id), creditedFen, refundFen };
      });
      await removeGate(redis, packetId).catch(() => undefined);
      return result;
    },
  };
}
