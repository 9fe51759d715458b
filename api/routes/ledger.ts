/** Money endpoints: an admin funds a wallet; a user reads their balance and bills. */
import { createHash } from 'node:crypto';
import { Router } from 'express';
import { z } from 'zod';
import { deposit } from '../../ledger/deposits';
import { getBalance, listBills } from '../../ledger/reads';
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
    pendingFen: z.int().meta({ description: 'Opened shares not yet credited, in fen' }),
  })
  .meta({ id: 'Balance' });

const BillSchema = z
  .object({
    transferId: z.string(),
    kind: z.enum(['deposit', 'pay', 'credit', 'refund']),
    amountFen: z.int().meta({ description: 'Positive into the wallet, negative out of it' }),
    packetId: z.string().nullable(),
    claimId: z.string().nullable(),
    createdAt: z.iso.datetime(),
  })
  .meta({ id: 'Bill' });

/** Bills page by the ledger's monotonic transfer sequence. */
const BillPosition = z.strictObject({ seq: z.int().min(1) });

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
    handler: async ({ user }) => ({ body: await getBalance(ctx.db, user.id) }),
  });

  defineListRoute(ctx, router, {
    path: '/v1/me/bills',
    summary: 'My ledger lines, newest first',
    tags: ['ledger'],
    item: BillSchema,
    pageId: 'BillsPage',
    description: 'one page of bills',
    position: BillPosition,
    list: async (userId, page) => {
      const bills = await listBills(ctx.db, userId, { limit: page.limit, afterSeq: page.after?.seq });
      return { items: bills.items, next: bills.nextAfterSeq === null ? null : { seq: bills.nextAfterSeq } };
    },
  });

  return router;
}
