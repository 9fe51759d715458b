/** Packet endpoints: send (pay), detail, and grab and open (declared in gated.ts, mounted from there). */
import { Router } from 'express';
import { z } from 'zod';
import { DomainError, ErrorCode } from '../../domain/errors';
import { toDetail } from '../../packets/detail';
import { sendPacket } from '../../packets/send';
import type { AppContext } from '../context';
import { defineGatedRoute, defineRoute } from '../pipeline';
import { PacketParams } from './gated';
import { AmountFenSchema, UserIdSchema } from '../validation';

const SendBody = z
  .strictObject({
    type: z.enum(['random', 'fixed', 'personal']),
    amountFen: AmountFenSchema,
    count: z.int().min(1).max(1_000),
    greeting: z.string().max(100).optional(),
    recipientId: UserIdSchema.optional(),
    audience: z.array(UserIdSchema).max(1_000).optional(),
    expiresInSeconds: z
      .int()
      .min(1)
      .max(30 * 86_400)
      .optional(),
  })
  .meta({ id: 'SendPacketRequest' });

const ClaimViewSchema = z.object({
  claimId: z.string(),
  userId: z.string(),
  amountFen: z.int(),
  openedAt: z.iso.datetime(),
  credited: z.boolean(),
  bestLuck: z.boolean(),
});

const PacketSchema = z
  .object({
    packetId: z.string(),
    type: z.enum(['random', 'fixed', 'personal']),
    senderId: z.string(),
    status: z.enum(['open', 'expired', 'exhausted', 'finished']),
    totalFen: z.int(),
    count: z.int(),
    remainingCount: z.int(),
    claimedFen: z.int(),
    refundFen: z.int().nullable(),
    greeting: z.string().nullable(),
    recipientId: z.string().nullable(),
    expiresAt: z.iso.datetime(),
    createdAt: z.iso.datetime(),
    claims: z.array(ClaimViewSchema),
    bestLuckUserId: z.string().nullable().meta({ description: 'Set once every share is claimed' }),
  })
  .meta({ id: 'Packet' });

const HoldSchema = z
  .object({
    packetId: z.string(),
    holdExpiresAt: z.iso.datetime(),
    remainingCount: z.int(),
    degraded: z
      .boolean()
      .meta({ description: 'Answered from Postgres while Redis is down; no share is reserved' }),
  })
  .meta({ id: 'Hold' });

const ClaimSchema = z
  .object({
    claimId: z.string(),
    packetId: z.string(),
    amountFen: z.int(),
    openedAt: z.iso.datetime(),
    creditStatus: z.enum(['pending', 'credited']),
  })
  .meta({ id: 'Claim' });

export function packetRoutes(ctx: AppContext): Router {
  const router = Router();
  const services = ctx.packets;

  defineRoute(ctx, router, {
    method: 'post',
    path: '/v1/packets',
    summary: 'Send a packet (pay into escrow)',
    description:
      'Answers 201 once the payment committed, or 402 when the wallet cannot cover it. The Idempotency-Key is required: a retry with the same key returns the same packet (or the same 402) and never pays twice.',
    tags: ['packets'],
    auth: 'user',
    body: SendBody,
    rateLimits: ['send'],
    // A send that timed out or answered 503 must be retried with the same key, or it may pay twice.
    idempotency: 'required',
    problems: [402, 422, 503],
    response: { status: 201, description: 'the paid packet', schema: PacketSchema },
    handler: async ({ body, user, idempotencyKey, annotate }) => {
      // A send reaches its user's home cell; a drained home refuses it (503, so the key is not kept).
      await ctx.drain.refuseSendIfDrained();
      const packet = await sendPacket(ctx, user.id, body, { idempotencyKey });
      annotate({ packetId: packet.packetId });
      return { status: 201, body: packet };
    },
  });

  defineRoute(ctx, router, {
    method: 'get',
    path: '/v1/packets/:id',
    summary: 'Packet detail with claims and best luck',
    tags: ['packets'],
    auth: 'user',
    params: PacketParams,
    problems: [404],
    response: { status: 200, description: 'the packet', schema: PacketSchema },
    handler: async ({ params, user, annotate }) => {
      annotate({ packetId: params.id });
      const snapshot = await services.cache.get(params.id);
      const detail = snapshot && toDetail(snapshot, user.id);
      if (!detail) throw new DomainError(ErrorCode.PacketNotFound, 'no such packet');
      return { body: detail };
    },
  });

  defineGatedRoute(ctx, router, 'grab', {
    summary: 'Grab a hold on one share',
    description: `The hold lasts ${ctx.config.packet.holdMs} ms; a share not opened by then returns to the pool.`,
    tags: ['packets'],
    problems: [404, 409, 410],
    response: { status: 200, description: 'the hold', schema: HoldSchema },
  });

  defineGatedRoute(ctx, router, 'open', {
    summary: 'Open the held share',
    description:
      'Opening twice returns the same claim. The credit to the wallet follows asynchronously (creditStatus).',
    tags: ['packets'],
    problems: [404, 409, 410, 503],
    response: { status: 200, description: 'the claim', schema: ClaimSchema },
  });

  return router;
}
