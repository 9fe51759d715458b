import type { Db } from '../../db';
import { EXTERNAL_FUNDING_ACCOUNT, escrowAccount, transferIds, walletAccount } from '../../domain/accounts';
import { ErrorCode } from '../../domain/errors';
import { deposit } from '../../ledger/deposits';
import { postTransfer, postTransfers } from '../../ledger/transfers';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { createActivities } from '../../activities';
import { balanceOf, fund, packetInput, uniqueTag, type PacketSpec } from '../support/ledgerFixtures';

/** Every row count and every balance: equal before and after means a refusal wrote nothing. */
async function snapshot(db: Db): Promise<unknown> {
  const { rows } = await db.query(
    `SELECT (SELECT count(*)::int FROM transfers) AS transfers, (SELECT count(*)::int FROM packets) AS packets,
            (SELECT count(*)::int FROM claims) AS claims,
            (SELECT json_agg(json_build_array(id, balance_fen) ORDER BY id) FROM accounts) AS balances`,
  );
  return rows[0];
}

async function expectRejectedWithoutWrites(db: Db, rejection: object, attempt: () => Promise<unknown>) {
  const before = await snapshot(db);
  await expect(attempt()).rejects.toMatchObject(rejection);
  expect(await snapshot(db)).toEqual(before);
}

/** A ledger refusal is a DomainError with the code. */
const expectRefusedWithoutWrites = (db: Db, code: ErrorCode, attempt: () => Promise<unknown>) =>
  expectRejectedWithoutWrites(db, { name: 'DomainError', code }, attempt);

/** A payment refusal is the activity's non-retryable failure, typed with the refusal's code. */
const expectPaymentRefusedWithoutWrites = (db: Db, code: ErrorCode, attempt: () => Promise<unknown>) =>
  expectRejectedWithoutWrites(db, { type: code, nonRetryable: true }, attempt);

describe('ledger', () => {
  let h: Harness;
  let activities: ReturnType<typeof createActivities>;
  beforeAll(async () => {
    h = await createHarness();
    activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
  });
  /** The payment activity; a refusal is its non-retryable ApplicationFailure, typed with the code. */
  const payPacket = (spec: PacketSpec) => activities.payPacket(packetInput(spec));
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  describe('deposits', () => {
    test('a deposit moves money from the external funding account into a wallet it opens', async () => {
      const userId = `u-${uniqueTag()}`;
      const externalBeforeFen = (await balanceOf(h.db, EXTERNAL_FUNDING_ACCOUNT))!;
      const posted = await deposit(h.db, { key: `k-${userId}`, userId, amountFen: 1_234 });
      expect(posted.replayed).toBe(false);
      expect(posted.transfer).toMatchObject({
        id: expect.stringMatching(new RegExp(`^deposit:\\d{8}:k-${userId}$`)) as unknown,
        kind: 'deposit',
        debitAccountId: EXTERNAL_FUNDING_ACCOUNT,
        creditAccountId: walletAccount(userId),
        amountFen: 1_234,
      });
      expect(await balanceOf(h.db, walletAccount(userId))).toBe(1_234);
      expect(await balanceOf(h.db, EXTERNAL_FUNDING_ACCOUNT)).toBe(externalBeforeFen - 1_234);
    });

    test('replaying a deposit key returns the original transfer and moves nothing', async () => {
      const userId = `u-${uniqueTag()}`;
      const first = await deposit(h.db, { key: `k-${userId}`, userId, amountFen: 500 });
      const before = await snapshot(h.db);
      const again = await deposit(h.db, { key: `k-${userId}`, userId, amountFen: 500 });
      expect(again).toEqual({ transfer: first.transfer, replayed: true });
      expect(await snapshot(h.db)).toEqual(before);
    });

    test('the same key with another amount or another user is a conflict and writes nothing', async () => {
      const userId = `u-${uniqueTag()}`;
      await deposit(h.db, { key: `k-${userId}`, userId, amountFen: 500 });
      await expectRefusedWithoutWrites(h.db, ErrorCode.TransferConflict, () =>
        deposit(h.db, { key: `k-${userId}`, userId, amountFen: 501 }),
      );
      // The other user's wallet would be opened by the deposit; the conflict rolls that back too.
      await expectRefusedWithoutWrites(h.db, ErrorCode.TransferConflict, () =>
        deposit(h.db, { key: `k-${userId}`, userId: `other-${userId}`, amountFen: 500 }),
      );
    });

    test.each([
      ['a zero amount', 0],
      ['a negative amount', -100],
      ['a fractional amount', 10.5],
      ['a NaN amount', Number.NaN],
      ['an unsafe integer amount', Number.MAX_SAFE_INTEGER + 2],
      ['an amount given as a string', '100' as unknown as number],
    ])('%s is refused with InvalidAmount and nothing is written', async (_label, amountFen) => {
      await expectRefusedWithoutWrites(h.db, ErrorCode.InvalidAmount, () =>
        deposit(h.db, { key: `k-${uniqueTag()}`, userId: `u-${uniqueTag()}`, amountFen }),
      );
    });

    test.each([
      ['an empty user id', { userId: '' }],
      ['a user id with a separator', { userId: 'a:b' }],
      ['a user id over 64 characters', { userId: 'u'.repeat(65) }],
      ['an empty key', { key: '' }],
      ['a key with a space', { key: 'a b' }],
      ['a key with a control character', { key: 'a\nb' }],
      ['a non-ASCII key', { key: '红包' }],
      ['a key over 100 characters', { key: 'k'.repeat(101) }],
    ])('%s is refused with InvalidAccount and nothing is written', async (_label, override) => {
      await expectRefusedWithoutWrites(h.db, ErrorCode.InvalidAccount, () =>
        deposit(h.db, { key: `k-${uniqueTag()}`, userId: `u-${uniqueTag()}`, amountFen: 100, ...override }),
      );
    });

    test('a key of 100 visible characters is accepted', async () => {
      const key = `${uniqueTag()}~!@#$%^&*()`.padEnd(100, 'x');
      await expect(deposit(h.db, { key, userId: `u-${uniqueTag()}`, amountFen: 1 })).resolves.toMatchObject({
        replayed: false,
      });
    });
  });

  describe('transfers refused before anything is written', () => {
    test('an unknown account is refused with UnknownAccount', async () => {
      await expectRefusedWithoutWrites(h.db, ErrorCode.UnknownAccount, () =>
        h.db.withTransaction((tx) =>
          postTransfer(tx, {
            id: transferIds.deposit(`k-${uniqueTag()}`),
            debitAccountId: EXTERNAL_FUNDING_ACCOUNT,
            creditAccountId: walletAccount(`ghost-${uniqueTag()}`),
            amountFen: 100,
            kind: 'deposit',
          }),
        ),
      );
    });

    test('a transfer from an account to itself is refused with SelfTransfer', async () => {
      const userId = `u-${uniqueTag()}`;
      await fund(h.db, userId, 100);
      await expectRefusedWithoutWrites(h.db, ErrorCode.SelfTransfer, () =>
        h.db.withTransaction((tx) =>
          postTransfer(tx, {
            id: transferIds.pay(`p-${userId}`),
            debitAccountId: walletAccount(userId),
            creditAccountId: walletAccount(userId),
            amountFen: 10,
            kind: 'pay',
            packetId: `p-${userId}`,
          }),
        ),
      );
    });

    test('a wallet that cannot cover a packet fails with InsufficientFunds: no packet, escrow or transfer', async () => {
      const senderId = `u-${uniqueTag()}`;
      await fund(h.db, senderId, 999);
      await expectPaymentRefusedWithoutWrites(h.db, ErrorCode.InsufficientFunds, () =>
        payPacket({ packetId: `p-${senderId}`, senderId, totalFen: 1_000, shareCount: 2 }),
      );
      expect(await balanceOf(h.db, walletAccount(senderId))).toBe(999);
    });

    test('a packet Postgres cannot store is refused as invalid, whether the function or its arguments refuse it', async () => {
      const senderId = `u-${uniqueTag()}`;
      await fund(h.db, senderId, 1_000);
      // A share count above the total breaks a CHECK inside pay_packet; a NUL cannot even be an argument.
      const tooManyShares = packetInput({
        packetId: `p-${senderId}-a`,
        senderId,
        totalFen: 2,
        shareCount: 3,
      });
      const nulGreeting = {
        ...packetInput({ packetId: `p-${senderId}-b`, senderId, totalFen: 2, shareCount: 1 }),
        greeting: 'hi\u0000',
      };
      for (const input of [tooManyShares, nulGreeting]) {
        await expectPaymentRefusedWithoutWrites(h.db, ErrorCode.InvalidPacket, () =>
          activities.payPacket(input),
        );
        // A retry obeys the same verdict.
        await expect(activities.payPacket(input)).rejects.toMatchObject({ type: ErrorCode.InvalidPacket });
      }
      expect(await balanceOf(h.db, walletAccount(senderId))).toBe(1_000);
    });

    test('a payer without a wallet is short of funds, not an error of another kind', async () => {
      const senderId = `u-${uniqueTag()}`;
      await expectPaymentRefusedWithoutWrites(h.db, ErrorCode.InsufficientFunds, () =>
        payPacket({ packetId: `p-${senderId}`, senderId, totalFen: 1, shareCount: 1 }),
      );
    });

    test('an escrow cannot pay out more than it holds, and a failing batch writes none of its transfers', async () => {
      const tag = uniqueTag();
      const packetId = `p-${tag}`;
      await fund(h.db, `s-${tag}`, 300);
      await payPacket({ packetId, senderId: `s-${tag}`, totalFen: 300, shareCount: 2 });
      await fund(h.db, `a-${tag}`, 1);
      await fund(h.db, `b-${tag}`, 1);
      const credit = (claimId: string, userId: string, amountFen: number) => ({
        id: transferIds.credit(claimId),
        debitAccountId: escrowAccount(packetId),
        creditAccountId: walletAccount(userId),
        amountFen,
        kind: 'credit' as const,
        packetId,
        claimId,
      });
      // The first credit fits on its own; together they exceed the escrow, so neither lands.
      await expectRefusedWithoutWrites(h.db, ErrorCode.InsufficientFunds, () =>
        h.db.withTransaction((tx) =>
          postTransfers(tx, [
            credit(`${packetId}-1`, `a-${tag}`, 200),
            credit(`${packetId}-2`, `b-${tag}`, 101),
          ]),
        ),
      );
      expect(await balanceOf(h.db, escrowAccount(packetId))).toBe(300);
      await activities.settlePacket(packetId);
    });
  });
});
