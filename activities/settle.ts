/**
 * Settle and refund (退款): at expiry, or once the pump reports every share credited, close the packet under
 * its row lock (no open can commit after) and refund total minus claims to the sender exactly once
 * (`refund:<packetId>`).
 *
 * `closeAndRefund` (packets started since `SETTLE_LEAVES_OWED_PATCH`, workflows/packet.ts) leaves claims
 * still owed to the credit pumps: their money stays in escrow, the packet is `closed`, and the pump that
 * credits the last of them finishes it. So a claim that cannot be credited (its wallet row held, a poison
 * row) never holds back the sender's refund. `settlePacket`, for workflows started before, also credits
 * whatever claims remain and finishes the packet in the same transaction.
 *
 * Both are idempotent: a settled packet answers its recorded refund. Lock order: packet row, then claims,
 * then accounts (inside postTransfers).
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { CreditSettings } from '../config';
import type { Db, Tx } from '../db';
import { escrowAccount, transferIds, walletAccount } from '../domain/accounts';
import { ErrorCode } from '../domain/errors';
import { sumFen } from '../domain/money';
import { postTransfer } from '../ledger/transfers';
import { clearingRoute, type CellTopology } from '../packets/store/clearing';
import { creditLockedClaims, markFinished } from '../packets/store/credits';
import { exhaustGate, removeGate } from '../packets/gate/gate';
import {
  findPacket,
  listClaims,
  lockUncreditedClaims,
  markSettled,
  type PacketRow,
} from '../packets/store/packets';
import type { RedisDeps } from '../redis';

export interface SettleResult {
  creditedClaimIds: string[];
  creditedFen: number;
  refundFen: number;
  /** Every claim of the packet, all credited once settled. */
  claimedCount: number;
  claimedFen: number;
}

/** What closeAndRefund found or did: the packet's claims, the refund, and the credits still owed. */
export interface CloseResult {
  refundFen: number;
  claimedCount: number;
  claimedFen: number;
  /** Claims not yet credited; the credit pumps owe them and finish the packet after the last one. */
  owedCount: number;
  owedFen: number;
  /** Every claim credited and the escrow empty: nothing more will happen to this packet. */
  finished: boolean;
}

/** The packet's row, locked: the first lock settlement takes. A packet that does not exist is a bug upstream. */
async function lockPacket(tx: Tx, packetId: string): Promise<PacketRow> {
  const packet = await findPacket(tx, packetId, { lock: true });
  if (!packet)
    throw ApplicationFailure.nonRetryable(`packet ${packetId} does not exist`, ErrorCode.PacketNotFound);
  return packet;
}

export function createSettleActivities(deps: {
  db: Db;
  redis: RedisDeps;
  credit: Pick<CreditSettings, 'shards'>;
  cells?: CellTopology | undefined;
}) {
  const { db, redis } = deps;
  // Claims of users homed in another cell go into clearing (several cells only), as the pumps' would.
  const route = clearingRoute(deps.cells, deps.credit.shards);

  /** Under the packet's row lock: refund the unclaimed rest once, then close or finish the packet. */
  async function closeLocked(tx: Tx, packet: PacketRow): Promise<CloseResult> {
    // A plain read, not a lock: a pump crediting one of these claims holds its row, possibly while it waits
    // for a wallet row another session holds, and the refund must not wait for that. A claim read here as
    // owed whose credit commits meanwhile is caught by whichever "finished" mark runs after both commits:
    // the pump's (it then sees the packet closed) or the one closeAndRefund runs after its own commit.
    const claims = await listClaims(tx, packet.id);
    const claimedFen = sumFen(claims.map((claim) => claim.amountFen));
    const owed = claims.filter((claim) => claim.creditedAt === null);
    const owedFen = sumFen(owed.map((claim) => claim.amountFen));
    let refundFen = packet.refundFen ?? 0;
    if (packet.status === 'open') {
      refundFen = packet.totalFen - claimedFen;
      if (refundFen < 0) throw new Error(`packet ${packet.id} claims exceed its total`); // the audit's invariant
      if (refundFen > 0) {
        await postTransfer(tx, {
          id: transferIds.refund(packet.id),
          debitAccountId: escrowAccount(packet.id),
          creditAccountId: walletAccount(packet.senderId),
          amountFen: refundFen,
          kind: 'refund',
          packetId: packet.id,
        });
      }
    }
    const finished = owed.length === 0;
    if (packet.status !== 'finished') {
      await markSettled(tx, packet.id, finished ? 'finished' : 'closed', refundFen);
    }
    return { refundFen, claimedCount: claims.length, claimedFen, owedCount: owed.length, owedFen, finished };
  }

  /**
   * True when the packet is finished now: this call's own mark finished it, or the pump's mark did, having
   * waited for the row this settlement held and then seen both commits (so this mark found nothing to do).
   */
  async function finishedSinceCommit(packetId: string): Promise<boolean> {
    if ((await markFinished(db, [packetId])).length > 0) return true;
    return (await findPacket(db, packetId))?.status === 'finished';
  }

  return {
    /**
     * Closes the packet to opens, refunds what nobody is owed, and finishes it when no credit is owed.
     * Called again while credits are owed (the workflow's re-check), it finishes a closed packet whose last
     * credit committed but whose "finished" mark or signal was lost.
     */
    async closeAndRefund(packetId: string): Promise<CloseResult> {
      let exhausted = false;
      let wasOpen = false;
      let result = await db.withTransaction(async (tx) => {
        const packet = await lockPacket(tx, packetId);
        exhausted = packet.remainingCount === 0;
        wasOpen = packet.status === 'open';
        return closeLocked(tx, packet);
      });
      if (!result.finished && (await finishedSinceCommit(packetId))) {
        // A pump committed the last owed credit after this settlement read the claims but before it
        // committed: that pump's mark ran while the packet was still open and skipped it, and this mark,
        // after both commits, sees the credit. Whichever of the two commits last finishes the packet.
        result = { ...result, owedCount: 0, owedFen: 0, finished: true };
      }
      // An exhausted packet keeps its exhausted gate until the TTL, so late grabs are still answered by Redis
      // (seed 003); an expired one loses it. Only the call that closed the packet touches the gate.
      if (wasOpen) await settleGate(packetId, exhausted);
      return result;
    },

    /** Settlement of workflows started before SETTLE_LEAVES_OWED_PATCH: credits what remains, then refunds. */
    async settlePacket(packetId: string): Promise<SettleResult> {
      let exhausted = false;
      const result = await db.withTransaction(async (tx) => {
        const packet = await lockPacket(tx, packetId);
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
        const { creditedFen } = await creditLockedClaims(tx, claims, route);
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
        await markSettled(tx, packetId, 'finished', refundFen);
        return {
          creditedClaimIds: claims.map((claim) => claim.id),
          creditedFen,
          refundFen,
          claimedCount: amounts.length,
          claimedFen,
        };
      });
      await settleGate(packetId, exhausted);
      return result;
    },
  };

  /** The gate after settlement, best effort after commit: the gate is a filter, Postgres the authority. */
  async function settleGate(packetId: string, exhausted: boolean): Promise<void> {
    if (exhausted) await exhaustGate(redis, packetId).catch(() => undefined);
    else await removeGate(redis, packetId).catch(() => undefined);
  }
}
