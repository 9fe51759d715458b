/** Money endpoints: an admin funds a wallet; a user reads their balance and bills. */
import { createHash } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { deposit } from '../../ledger/deposits';
import { balanceAcrossCells } from '../../ledger/balanceAcrossCells';
import { BILLS_ARCHIVED, listBills } from '../../ledger/reads';
import type { AppContext } from '../context';
import { defineListRoute } from '../listRoute';
import { defineRoute } from '../pipeline';
import { AmountFenSchema, amountFenAtMost, UserIdSchema } from '../validation';

const DepositBody = (maxFen: number) =>
  z.strictObject({ userId: UserIdSchema, amountFen: amountFenAtMost(maxFen) }).meta({ id: 'DepositRequest' });

const DepositSchema = z
  .object({
    transferId: z.string(),
    userId: z.string(),
    amountFen: AmountFenSchema,
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Deposit' });

const BalanceSchema = z
  .object({
    userId: z.string(),
    balanceFen: z.int().meta({ description: 'Wallet balance in fen' }),
    pendingFen: z.int().meta({
      description:
        'Opened shares not yet credited, in fen, including shares opened in other cells and not yet delivered',
    }),
    pendingUnknownCells: z
      .array(z.string())
      .optional()
      .meta({ description: 'Cells that did not answer in time: their part of pendingFen is not included' }),
  })
  .meta({ id: 'Balance' });

const BillSchema = z
  .object({
    transferId: z.string(),
    kind: z.enum(['deposit', 'pay', 'credit', 'refund', 'xcredit']),
    amountFen: z.int().meta({ description: 'Positive into the wallet, negative out of it' }),
    packetId: z.string().nullable(),
    claimId: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Bill' });

/**
 * Lines older than the hot window are archived (docs/day-tables.md, "Cold days"); the last page says so
 * instead of ending as if there were none.
 */
const BillsArchivedSchema = z
  .object({
    code: z.literal(BILLS_ARCHIVED),
    throughDay: z.string().meta({ description: 'The newest archived day (YYYY-MM-DD) with lines of yours' }),
  })
  .nullable()
  .meta({ id: 'BillsArchived' });

/** A bills cursor's position (ledger/reads.ts): the last line's day and seq. */
const BillPosition = z.strictObject({ day: z.string().regex(/^\d{4}-\d{2}-\d{2}$/), seq: z.int().min(1) });

/**
 * The deposit's ledger key is derived from the admin's Idempotency-Key, scoped by the admin: a retry funds the
 * wallet once even after the stored answer expired, and two admins' keys never collide. Hashed because keys
 * may be 255 characters with spaces, and deposit keys are at most 100 visible characters.
 */
export function depositKeyOf(adminId: string, idempotencyKey: string): string {
  return `${adminId}:${createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 32)}`;
}

export function ledgerRoutes(ctx: AppContext): Router {
  const router = Router();

  defineRoute(ctx, router, {
    method: 'post',
    path: '/v1/admin/deposits',
    summary: 'Fund a wallet (admin)',
    description:
      'Moves amountFen from the external funding account into the wallet of userId. Idempotency-Key is ' +
      'required: the ledger transfer id is derived from it (scoped by the admin), so a retry never pays twice.',
    tags: ['ledger'],
    auth: 'admin',
    idempotency: 'required',
    body: DepositBody(ctx.config.ledger.depositMaxFen),
    response: { status: 201, description: 'the deposit transfer', schema: DepositSchema },
    handler: async ({ body, user, idempotencyKey, annotate }) => {
      if (!idempotencyKey) throw new Error('deposits require an Idempotency-Key');
      const posted = await deposit(ctx.db, {
        key: depositKeyOf(user.id, idempotencyKey),
        userId: body.userId,
        amountFen: body.amountFen,
      });
      annotate({ transferId: posted.transfer.id });
      return {
        status: 201,
        body: {
          transferId: posted.transfer.id,
          userId: body.userId,
          amountFen: posted.transfer.amountFen,
          createdAt: posted.transfer.createdAt.toISOString(),
        },
      };
    },
  });

  defineRoute(ctx, router, {
    method: 'get',
    path: '/v1/me/balance',
    summary: 'My wallet balance and pending credits',
    tags: ['ledger'],
    auth: 'user',
    response: { status: 200, description: 'the balance', schema: BalanceSchema },
    handler: async ({ user }) => ({ body: await balanceAcrossCells(ctx.db, ctx.config.cells, user.id) }),
  });

  defineListRoute(ctx, router, {
    path: '/v1/me/bills',
    summary: 'My ledger lines, newest first',
    tags: ['ledger'],
    item: BillSchema,
    pageId: 'BillsPage',
    description: 'one page of bills',
    position: BillPosition,
    extra: { archived: BillsArchivedSchema },
    list: async (userId, page) => {
      const bills = await listBills(ctx.db, userId, { limit: page.limit, after: page.after });
      return { items: bills.items, next: bills.next, extra: { archived: bills.archived } };
    },
  });

  return router;
}
