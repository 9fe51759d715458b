/**
 * The traditional design the issue compares against (seed 000): every grab is one synchronous Postgres
 * transaction that locks the packet row, draws the share, writes the claim and credits the wallet at once.
 * No Redis gate in front and no asynchronous credit behind, so the whole crowd queues on one row lock.
 * Bench-only; it writes the same rows as the real service (claim, credit transfer, finished packet), so the
 * money audit checks it like everything else.
 */
import { randomInt } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { defineRoute } from '../api/pipeline';
import type { AppContext } from '../api/context';
import { ResourceIdSchema } from '../api/validation';
import type { Db } from '../db';
import { escrowAccount, transferIds, walletAccount } from '../domain/accounts';
import { drawFrom } from '../domain/allocation';
import { DomainError, ErrorCode } from '../domain/errors';
import { ensureWallet, postTransfer } from '../ledger/transfers';
import { claimIdOf } from '../packets/store/openShare';
import { findPacket } from '../packets/store/packets';

export interface TraditionalClaim {
  claimId: string;
  packetId: string;
  amountFen: number;
  creditStatus: 'credited';
}

export async function traditionalGrab(db: Db, packetId: string, userId: string): Promise<TraditionalClaim> {
  return db.withTransaction(async (tx) => {
    const packet = await findPacket(tx, packetId, { lock: true });
    if (!packet) throw new DomainError(ErrorCode.PacketNotFound, 'no such packet');
    // Checked before status: the last share finishes the packet, and later grabs are told it is empty.
    if (packet.remainingCount === 0)
      throw new DomainError(ErrorCode.PacketExhausted, 'every share has been taken');
    if (packet.status !== 'open' || packet.expiresAt.getTime() <= Date.now())
      throw new DomainError(ErrorCode.PacketExpired, 'the packet has expired');
    const { rowCount } = await tx.query(
      'SELECT 1 FROM claims WHERE day = day_of_id($1) AND packet_id = $1 AND user_id = $2',
      [packetId, userId],
    );
    if (rowCount) throw new DomainError(ErrorCode.AlreadyClaimed, 'you have already opened this packet');
    const seq = packet.shareCount - packet.remainingCount + 1;
    const claimId = claimIdOf(packetId, seq);
    // The share by the allocation rule's one owner, share_from_draw, inside the insert: no extra round trip.
    const { rows: inserted } = await tx.query<{ amount_fen: number }>(
      `INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen, credited_at)
       VALUES (day_of_id($2), $1, $2, $3, $4, share_from_draw($5, $6, $7, $8), clock_timestamp())
       RETURNING amount_fen`,
      [
        claimId,
        packetId,
        userId,
        seq,
        packet.type,
        packet.remainingFen,
        packet.remainingCount,
        drawFrom(randomInt),
      ],
    );
    const amountFen = inserted[0]?.amount_fen;
    if (amountFen === undefined) throw new Error('the claim insert returned no row');
    await ensureWallet(tx, userId);
    await postTransfer(tx, {
      id: transferIds.credit(claimId),
      debitAccountId: escrowAccount(packetId),
      creditAccountId: walletAccount(userId),
      amountFen,
      kind: 'credit',
      packetId,
      claimId,
    });
    // The last share settles the packet in the same transaction: nothing is left to refund.
    await tx.query(
      `UPDATE packets SET remaining_fen = remaining_fen - $2, remaining_count = remaining_count - 1,
         status = CASE WHEN remaining_count = 1 THEN 'finished' ELSE status END,
         refund_fen = CASE WHEN remaining_count = 1 THEN 0 ELSE refund_fen END,
         closed_at = CASE WHEN remaining_count = 1 THEN now() ELSE closed_at END
       WHERE id = $1`,
      [packetId, amountFen],
    );
    return { claimId, packetId, amountFen, creditStatus: 'credited' as const };
  });
}

export const TRADITIONAL_PATH = '/v1/bench/traditional/:id/grab';

/** The traditional grab behind the service's own middleware (auth, validation, rate limits, metrics). */
export function traditionalRoutes(ctx: AppContext): Router {
  const router = Router();
  defineRoute(ctx, router, {
    method: 'post',
    path: TRADITIONAL_PATH,
    summary: 'Bench only: grab, open and credit in one Postgres transaction',
    tags: ['bench'],
    auth: 'user',
    params: z.strictObject({ id: ResourceIdSchema }),
    rateLimits: ['packet'],
    idempotency: 'optional',
    problems: [404, 409, 410],
    response: { status: 200, description: 'the credited claim' },
    handler: async ({ params, user }) => ({ body: await traditionalGrab(ctx.db, params.id, user.id) }),
  });
  return router;
}
