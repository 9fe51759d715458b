/**
 * Settle and refund (退款): at expiry, or once the pump reports every share credited, close the packet under
 * its row lock (no open can commit after), credit whatever claims remain, refund total minus claims to the
 * sender exactly once (`refund:<packetId>`), and finish the packet. Idempotent: a finished packet answers
 * its recorded refund. Lock order: packet row, then claims, then accounts (inside postTransfers).
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Db } from '../db';
import { escrowAccount, transferIds, walletAccount } from '../domain/accounts';
import { ErrorCode } from '../domain/errors';
import { sumFen } from '../domain/money';
import { postTransfer } from '../ledger/transfers';
import { creditLockedClaims } from '../packets/store/credits';
import { exhaustGate, removeGate } from '../packets/gate/gate';
import { findPacket, listClaims, lockUncreditedClaims } from '../packets/store/packets';
import type { RedisDeps } from '../redis';

export interface SettleResult {
  creditedClaimIds: string[];
  creditedFen: number;
  refundFen: number;
  /** Every claim of the packet, all credited once settled. */
  claimedCount: number;
  claimedFen: number;
}

export function createSettleActivities(deps: { db: Db; redis: RedisDeps }) {
  const { db, redis } = deps;
  return {
    async settlePacket(packetId: string): Promise<SettleResult> {
      let exhausted = false;
      const result = await db.withTransaction(async (tx) => {
        const packet = await findPacket(tx, packetId, { lock: true });
        if (!packet)
          throw ApplicationFailure.nonRetryable(
            `packet ${packetId} does not exist`,
            ErrorCode.PacketNotFound,
          );
        exhausted = packet.remainingCount === 0;
        const claimed = () => listClaims(tx, packetId).then((all) => all.map((claim) => claim.amountFen));
        if (packet.status === 'finished') {
          const amounts = await claimed();
          return {
            creditedClaimIds: [],
            creditedFen: 0,
            refundFen: packet.refundFen ?? 0,
            claimedCount: amounts.length,
            claimedFen: sumFen(amounts),
          };
        }
        const claims = await lockUncreditedClaims(tx, packetId);
        const { creditedFen } = await creditLockedClaims(tx, claims);
        const amounts = await claimed();
        const claimedFen = sumFen(amounts);
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
        return {
          creditedClaimIds: claims.map((claim) => claim.id),
          creditedFen,
          refundFen,
          claimedCount: amounts.length,
          claimedFen,
        };
      });
      // An exhausted packet keeps its exhausted gate until the TTL, so late grabs are still answered by Redis
      // (seed 003); an expired one loses it.
      if (exhausted) await exhaustGate(redis, packetId).catch(() => undefined);
      else await removeGate(redis, packetId).catch(() => undefined);
      return result;
    },
  };
}
