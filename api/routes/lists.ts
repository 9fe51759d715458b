/** The packets a user sent and the shares they received, newest first, keyset-paginated. */
import { Router } from 'express';
import { z } from 'zod';
import { listReceivedClaims, listSentPackets } from '../../packets/lists';
import type { AppContext } from '../context';
import { pageOf, pageRequest } from '../pagination';
import { defineRoute } from '../route';
import { PageQuerySchema } from '../validation';

const PacketTypeSchema = z.enum(['random', 'fixed', 'personal']);

const SentPacketSchema = z
  .object({
    packetId: z.string(),
    type: PacketTypeSchema,
    totalFen: z.int(),
    shareCount: z.int(),
    remainingFen: z.int(),
    remainingCount: z.int(),
    greeting: z.string().nullable(),
    status: z.enum(['open', 'closed', 'finished']),
    refundFen: z.int().nullable(),
    createdAt: z.iso.datetime(),
    expiresAt: z.iso.datetime(),
  })
  .meta({ id: 'SentPacket' });

const ReceivedClaimSchema = z
  .object({
    claimId: z.string(),
    packetId: z.string(),
    senderId: z.string(),
    type: PacketTypeSchema,
    greeting: z.string().nullable(),
    amountFen: z.int(),
    credited: z.boolean().meta({ description: 'False until the share is in the wallet' }),
    claimedAt: z.iso.datetime(),
  })
  .meta({ id: 'ReceivedClaim' });

const pageSchema = (item: z.ZodType, id: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).meta({ id });

/** Lists page by (created_at in microseconds, id): unique, and the order of their indexes. */
const ListPosition = z.strictObject({
  createdUs: z.int().min(0),
  id: z.string().min(1).max(64),
});

export function listRoutes(ctx: AppContext): Router {
  const router = Router();
  const pressure = { lists: ctx.config.lists, underPressure: ctx.underPressure };

  defineRoute(ctx, router, {
    method: 'get',
    path: '/v1/me/packets/sent',
    summary: 'Packets I sent, newest first',
    tags: ['lists'],
    auth: 'user',
    query: PageQuerySchema,
    problems: [503],
    response: {
      status: 200,
      description: 'one page',
      schema: pageSchema(SentPacketSchema, 'SentPacketsPage'),
    },
    handler: async ({ user, query }) => {
      const page = pageRequest(ListPosition, query, pressure);
      const result = await listSentPackets(ctx.db, user.id, { limit: page.limit, after: page.after });
      return { body: pageOf(page, result.items, result.next) };
    },
  });

  defineRoute(ctx, router, {
    method: 'get',
    path: '/v1/me/packets/received',
    summary: 'Shares I opened, newest first',
    tags: ['lists'],
    auth: 'user',
    query: PageQuerySchema,
    problems: [503],
    response: {
      status: 200,
      description: 'one page',
      schema: pageSchema(ReceivedClaimSchema, 'ReceivedClaimsPage'),
    },
    handler: async ({ user, query }) => {
      const page = pageRequest(ListPosition, query, pressure);
      const result = await listReceivedClaims(ctx.db, user.id, { limit: page.limit, after: page.after });
      return { body: pageOf(page, result.items, result.next) };
    },
  });

  return router;
}
