/**
 * The packet saga's effects on Postgres and Redis: pay into escrow, arm the gate, and the per-packet credit
 * waves that packets started before the credit pump still run (settle is in settle.ts, credit in credit.ts). Every one is idempotent (transfer ids are the keys), so Temporal may retry any of
 * them at any point, including after a commit whose acknowledgement was lost.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Db } from '../db';
import { ErrorCode } from '../domain/errors';
import { gateAudience } from '../packets/access';
import { creditLockedClaims } from '../packets/creditStore';
import { armGateFromPostgres, armGate, exhaustGate } from '../packets/gate';
import { countUncredited, findPacket, lockUncreditedClaims } from '../packets/store';
import { payOnce } from './payment';
import type { RedisDeps } from '../redis';
import { paidPacketOf, type PacketInput, type PaidPacket } from '../saga';

export interface CreditWaveResult {
  creditedClaimIds: string[];
  creditedFen: number;
  /** Claims still uncredited after this wave (opened while it ran). */
  uncreditedCount: number;
  remainingCount: number;
  finished: boolean;
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
        const { creditedFen } = await creditLockedClaims(tx, claims);
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
  };
}
