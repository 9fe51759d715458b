/** The packets a user sent and the shares they received, newest first, keyset-paginated. */
import { Router } from 'express';
import { z } from 'zod';
import { listReceivedClaims, listSentPackets } from '../../packets/store/lists';
import { defineReceivedAcrossCells } from '../cells/received';
import type { AppContext } from '../context';
import { defineListRoute } from '../listRoute';

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

/** Lists page by (created_at in microseconds, id): unique, and the order of their indexes. */
const ListPosition = z.strictObject({
  createdUs: z.int().min(0),
  id: z.string().min(1).max(64),
});

export function listRoutes(ctx: AppContext): Router {
  const router = Router();

  defineListRoute(ctx, router, {
    path: '/v1/me/packets/sent',
    summary: 'Packets I sent, newest first',
    tags: ['lists'],
    item: SentPacketSchema,
    pageId: 'SentPacketsPage',
    position: ListPosition,
    list: (userId, page) => listSentPackets(ctx.db, userId, page),
  });

  const received = {
    path: '/v1/me/packets/received',
    summary: 'Shares I opened, newest first',
    tags: ['lists'],
    item: ReceivedClaimSchema,
    pageId: 'ReceivedClaimsPage',
    position: ListPosition,
  };
  // A user's claims live in the cells of the packets they opened: with several cells the list is merged.
  if (ctx.cellRouting) defineReceivedAcrossCells(ctx, router, ctx.cellRouting, received);
  else
    defineListRoute(ctx, router, {
      ...received,
      list: (userId, page) => listReceivedClaims(ctx.db, userId, page),
    });

  return router;
}
