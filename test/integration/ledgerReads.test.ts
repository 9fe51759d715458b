import { EXTERNAL_FUNDING_ACCOUNT, transferIds, walletAccount } from '../../domain/accounts';
import { ErrorCode } from '../../domain/errors';
import { formatPacketId } from '../../packets/gate/ids';
import { BILLS_PAGE_MAX, getBalance, listBills, type Bill, type BillsPosition } from '../../ledger/reads';
import { postTransfers } from '../../ledger/transfers';
import { expectAuditClean } from '../support/audit';
import { creditQueuedClaims } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { createActivities } from '../../activities';
import { claimIdOf, openShare } from '../../packets/store/openShare';
import { constant, drawFor, fund, packetInput, uniqueTag, type PacketSpec } from '../support/ledgerFixtures';

describe('ledger reads', () => {
  let h: Harness;
  let activities: ReturnType<typeof createActivities>;
  beforeAll(async () => {
    h = await createHarness();
    activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
  });
  const pay = (spec: PacketSpec) => activities.payPacket(packetInput(spec));
  const open = async (packetId: string, userId: string, amountFen: number) =>
    openShare(h.db, packetId, userId, { draw: constant(await drawFor(h.db, packetId, amountFen)) });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  /** Every page from the first until next runs out. */
  async function allPages(userId: string, limit: number): Promise<Bill[][]> {
    const pages: Bill[][] = [];
    let after: BillsPosition | undefined;
    do {
      const page = await listBills(h.db, userId, { limit, after });
      pages.push(page.items);
      after = page.next ?? undefined;
    } while (after !== undefined);
    return pages;
  }

  async function transferIdsNewestFirst(userId: string): Promise<string[]> {
    const { rows } = await h.db.query<{ id: string }>(
      'SELECT id FROM transfers WHERE $1 IN (debit_account_id, credit_account_id) ORDER BY seq DESC',
      [walletAccount(userId)],
    );
    return rows.map((row) => row.id);
  }

  describe('balance', () => {
    test('a user who never had a wallet has zero balance and nothing pending', async () => {
      await expect(getBalance(h.db, `nobody-${uniqueTag()}`)).resolves.toMatchObject({
        balanceFen: 0,
        pendingFen: 0,
      });
    });

    test('opened claims count as pending until their credit lands in the balance', async () => {
      const tag = uniqueTag();
      const [senderId, userId] = [`s-${tag}`, `u-${tag}`];
      await fund(h.db, senderId, 1_000);
      await pay({ packetId: `p1-${tag}`, senderId, totalFen: 400, shareCount: 2 });
      await pay({ packetId: `p2-${tag}`, senderId, totalFen: 400, shareCount: 2 });
      await open(`p1-${tag}`, userId, 300);
      expect(await getBalance(h.db, userId)).toEqual({ userId, balanceFen: 0, pendingFen: 300 });

      await creditQueuedClaims(h.db);
      expect(await getBalance(h.db, userId)).toEqual({ userId, balanceFen: 300, pendingFen: 0 });
      await open(`p2-${tag}`, userId, 120);
      expect(await getBalance(h.db, userId)).toEqual({ userId, balanceFen: 300, pendingFen: 120 });

      await activities.settlePacket(`p2-${tag}`);
      expect(await getBalance(h.db, userId)).toEqual({ userId, balanceFen: 420, pendingFen: 0 });
      expect(await getBalance(h.db, senderId)).toMatchObject({ balanceFen: 200 + 280, pendingFen: 0 });
    });

    test('a malformed user id is refused with InvalidAccount', async () => {
      await expect(getBalance(h.db, 'not a user')).rejects.toMatchObject({ code: ErrorCode.InvalidAccount });
      await expect(listBills(h.db, 'wallet:x', { limit: 10 })).rejects.toMatchObject({
        code: ErrorCode.InvalidAccount,
      });
    });
  });

  describe('bills', () => {
    test('bills carry kind, a signed amount and the packet and claim they belong to', async () => {
      const tag = uniqueTag();
      // Packet ids of today, as the API allocates them: bills order lines by (day, seq), and a deposit is
      // made today, so every line here is of one day and in commit order.
      const today = new Date().toISOString().slice(0, 10).replace(/-/g, '');
      const [senderId, userId] = [`s-${tag}`, `u-${tag}`];
      const [packetId, other] = [formatPacketId(today, 'rd', 'r', 1), formatPacketId(today, 'rd', 'r', 2)];
      await fund(h.db, userId, 1_000);
      await pay({ packetId, senderId: userId, totalFen: 600, shareCount: 2 });
      await fund(h.db, senderId, 500);
      await pay({ packetId: other, senderId, totalFen: 500, shareCount: 2 });
      await open(other, userId, 70);
      await creditQueuedClaims(h.db);
      await activities.settlePacket(packetId);

      const { items, next } = await listBills(h.db, userId, { limit: 10 });
      expect(next).toBeNull();
      expect(
        items.map(({ kind, amountFen, packetId: p, claimId }) => ({ kind, amountFen, p, claimId })),
      ).toEqual([
        { kind: 'refund', amountFen: 600, p: packetId, claimId: null },
        { kind: 'credit', amountFen: 70, p: other, claimId: claimIdOf(other, 1) },
        { kind: 'pay', amountFen: -600, p: packetId, claimId: null },
        { kind: 'deposit', amountFen: 1_000, p: null, claimId: null },
      ]);
      expect(items[0]?.transferId).toBe(transferIds.refund(packetId));
      expect(new Date(items[0]!.createdAt).toISOString()).toBe(items[0]!.createdAt);
    });

    test('pages run newest first and together hold every line exactly once', async () => {
      const userId = `u-${uniqueTag()}`;
      for (let i = 0; i < 23; i += 1) await fund(h.db, userId, 1 + i);
      const pages = await allPages(userId, 5);
      expect(pages.map((page) => page.length)).toEqual([5, 5, 5, 5, 3]);
      expect(pages.flat().map((bill) => bill.transferId)).toEqual(await transferIdsNewestFirst(userId));
      expect(pages.flat().map((bill) => bill.amountFen)).toEqual(
        Array.from({ length: 23 }, (_, i) => 23 - i),
      );
    });

    test('pages walk across the week, month and older windows without skipping or repeating a line', async () => {
      // Lines on days either side of each window's edge (days back 0, 5-8, 35-38, 60 and tomorrow), posted
      // oldest day first, as a wallet's history is written.
      const userId = `u-${uniqueTag()}`;
      await fund(h.db, userId, 1);
      const dayKey = (back: number) =>
        new Date(Date.now() - back * 86_400_000).toISOString().slice(0, 10).replace(/-/g, '');
      const daysBack = [60, 38, 37, 36, 35, 8, 7, 6, 5, 0, -1];
      for (const back of daysBack) {
        // Only the days used, each in its own statement: sixty days of partitions at once outlast the
        // test's statement timeout on a loaded machine.
        await h.db.query(`SELECT ensure_day_partitions(current_date - $1::int, current_date - $1::int)`, [
          back,
        ]);
        for (let i = 0; i < 2; i += 1)
          await postTransfers(h.db, [
            {
              id: transferIds.deposit(`${dayKey(back)}:${userId}-${i}`),
              debitAccountId: EXTERNAL_FUNDING_ACCOUNT,
              creditAccountId: walletAccount(userId),
              amountFen: 1,
              kind: 'deposit' as const,
            },
          ]);
      }
      const { rows } = await h.db.query<{ id: string }>(
        'SELECT id FROM transfers WHERE credit_account_id = $1 ORDER BY day DESC, seq DESC',
        [walletAccount(userId)],
      );
      const expected = rows.map((row) => row.id);
      expect(expected).toHaveLength(daysBack.length * 2 + 1);
      for (const limit of [1, 3, 100]) {
        const pages = await allPages(userId, limit);
        expect(pages.flat().map((bill) => bill.transferId)).toEqual(expected);
      }
    });

    test('a line posted while paging appears on a fresh first page and shifts no later page', async () => {
      const userId = `u-${uniqueTag()}`;
      for (let i = 0; i < 6; i += 1) await fund(h.db, userId, 10);
      const first = await listBills(h.db, userId, { limit: 3 });
      await fund(h.db, userId, 99);
      const second = await listBills(h.db, userId, { limit: 3, after: first.next! });
      const seen = [...first.items, ...second.items].map((bill) => bill.transferId);
      expect(new Set(seen).size).toBe(6);
      expect(second.next).toBeNull();
      expect((await listBills(h.db, userId, { limit: 1 })).items[0]?.amountFen).toBe(99);
    });

    test('a page that ends exactly at the last line says there is no next page', async () => {
      const userId = `u-${uniqueTag()}`;
      for (let i = 0; i < 4; i += 1) await fund(h.db, userId, 10);
      expect((await allPages(userId, 2)).map((page) => page.length)).toEqual([2, 2]);
    });

    test(`a page holds at most ${BILLS_PAGE_MAX} lines however many are asked for`, async () => {
      const userId = `u-${uniqueTag()}`;
      await fund(h.db, userId, 1);
      const count = BILLS_PAGE_MAX + 5;
      await h.db.withTransaction((tx) =>
        postTransfers(
          tx,
          Array.from({ length: count }, (_, i) => ({
            id: transferIds.deposit(`${userId}-${i}`),
            debitAccountId: EXTERNAL_FUNDING_ACCOUNT,
            creditAccountId: walletAccount(userId),
            amountFen: 1,
            kind: 'deposit' as const,
          })),
        ),
      );
      const page = await listBills(h.db, userId, { limit: 10_000 });
      expect(page.items).toHaveLength(BILLS_PAGE_MAX);
      expect(page.next).not.toBeNull();
      expect((await allPages(userId, 10_000)).flat()).toHaveLength(count + 1);
    });

    test('a user without a wallet has no bills, and a nonsense page size is refused', async () => {
      await expect(listBills(h.db, `nobody-${uniqueTag()}`, { limit: 10 })).resolves.toEqual({
        items: [],
        next: null,
        archived: null,
      });
      await expect(listBills(h.db, 'someone', { limit: 0 })).rejects.toThrow(RangeError);
      await expect(listBills(h.db, 'someone', { limit: 1.5 })).rejects.toThrow(RangeError);
      await expect(
        listBills(h.db, 'someone', { limit: 5, after: { day: '2026-01-01', seq: -1 } }),
      ).rejects.toThrow(RangeError);
    });
  });
});
