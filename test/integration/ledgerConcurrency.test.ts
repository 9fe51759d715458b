/**
 * Concurrency: replays racing each other, and a storm of money movements over shared wallets that only a
 * single global lock order keeps free of deadlocks.
 */
import type { Db } from '../../db';
import { walletAccount } from '../../domain/accounts';
import { ErrorCode, isDomainError } from '../../domain/errors';
import { deposit } from '../../ledger/deposits';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import {
  balanceOf,
  claimAndCredit,
  creditClaims,
  finishPacket,
  fund,
  openClaim,
  payPacket,
  uniqueTag,
} from '../support/ledgerFixtures';

describe('ledger under concurrency', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  test('fifty concurrent replays of one deposit make exactly one transfer', async () => {
    const userId = `u-${uniqueTag()}`;
    const results = await Promise.all(
      Array.from({ length: 50 }, () => deposit(h.db, { key: `k-${userId}`, userId, amountFen: 700 })),
    );
    expect(results.filter((result) => !result.replayed)).toHaveLength(1);
    expect(new Set(results.map((result) => result.transfer.seq)).size).toBe(1);
    expect(await balanceOf(h.db, walletAccount(userId))).toBe(700);
  });

  test('concurrent deposits of one key with different amounts: one wins, the rest replay it or conflict', async () => {
    const userId = `u-${uniqueTag()}`;
    const settled = await Promise.allSettled(
      Array.from({ length: 40 }, (_, i) =>
        deposit(h.db, { key: `k-${userId}`, userId, amountFen: i % 2 === 0 ? 100 : 200 }),
      ),
    );
    const posted = settled.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const refused = settled.flatMap((result) =>
      result.status === 'rejected' ? [result.reason as unknown] : [],
    );
    const winningFen = (await balanceOf(h.db, walletAccount(userId)))!;
    expect([100, 200]).toContain(winningFen);
    expect(posted.filter((result) => !result.replayed)).toHaveLength(1);
    expect(posted.every((result) => result.transfer.amountFen === winningFen)).toBe(true);
    expect(posted).toHaveLength(20);
    expect(refused.every((err) => isDomainError(err, ErrorCode.TransferConflict))).toBe(true);
  });

  test('400 concurrent deposits, payments and credit waves over 20 wallets never deadlock or overdraw', async () => {
    await runMoneyStorm(h.db);
  });
});

/** A small deterministic generator, so a failing storm can be replayed with the same choices. */
function seededRandom(seed: number): (maxExclusive: number) => number {
  let state = seed >>> 0;
  return (maxExclusive) => {
    state = (Math.imul(state, 1_664_525) + 1_013_904_223) >>> 0;
    return state % maxExclusive;
  };
}

const STORM_WALLETS = 20;
const STORM_PACKETS = 8;
/** Claims opened on each packet before the storm, so its first credit wave locks this many wallets at once. */
const STORM_CLAIMS_PER_PACKET = 15;
const STORM_OPERATIONS = 400;
const STORM_START_FEN = 5_000;
const STORM_REFUSALS: ErrorCode[] = [
  ErrorCode.InsufficientFunds,
  ErrorCode.AlreadyClaimed,
  ErrorCode.PacketExhausted,
  ErrorCode.InvalidAmount,
];

/**
 * The deadlock hunt: credit waves of different packets lock overlapping sets of wallets, each in the random
 * order its claims were opened, while deposits, payments and single credits take the same wallets. Only
 * locking accounts in one global order keeps this from deadlocking.
 */
async function runMoneyStorm(db: Db): Promise<void> {
  const tag = uniqueTag();
  const random = seededRandom(0x5eed);
  const users = Array.from({ length: STORM_WALLETS }, (_, i) => `storm-${tag}-${i}`);
  const pick = <T>(items: T[]): T => items[random(items.length)]!;
  const shuffled = <T>(items: T[]): T[] =>
    items
      .map((item) => [random(1 << 30), item] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, item]) => item);
  await Promise.all(users.map((userId) => fund(db, userId, STORM_START_FEN)));
  // Claims go to these packets, paid up front; packets paid during the storm only take money in.
  const claimable = users.slice(0, STORM_PACKETS).map((_, i) => `storm-${tag}-p${i}`);
  await Promise.all(
    claimable.map(async (packetId, i) => {
      await payPacket(db, { packetId, senderId: users[i]!, totalFen: 2_000, shareCount: 40 });
      for (const userId of shuffled(users).slice(0, STORM_CLAIMS_PER_PACKET)) {
        await openClaim(db, {
          claimId: `${packetId}-${userId}`,
          packetId,
          userId,
          amountFen: 1 + random(40),
        });
      }
    }),
  );
  const packets = [...claimable];

  let depositedFen = 0;
  const operations = Array.from({ length: STORM_OPERATIONS }, (_, i): (() => Promise<unknown>) => {
    const claim = { claimId: `storm-${tag}-c${i}`, packetId: pick(claimable), userId: pick(users) };
    switch (random(6)) {
      case 0: {
        const amountFen = 1 + random(500);
        return () => fund(db, claim.userId, amountFen).then(() => (depositedFen += amountFen));
      }
      case 1: {
        const packetId = `storm-${tag}-n${i}`;
        packets.push(packetId);
        const spec = { packetId, senderId: claim.userId, totalFen: 1 + random(3_000), shareCount: 1 };
        return () => payPacket(db, spec);
      }
      case 2:
        return () => openClaim(db, { ...claim, amountFen: 1 + random(60) });
      case 3:
        return () => claimAndCredit(db, { ...claim, amountFen: 1 + random(60) });
      default:
        return () => creditClaims(db, claim.packetId);
    }
  });
  const settled = await Promise.allSettled(operations.map((operation) => operation()));
  const unexpected = settled.flatMap((result) =>
    result.status === 'rejected' && !STORM_REFUSALS.some((code) => isDomainError(result.reason, code))
      ? [result.reason as unknown]
      : [],
  );
  expect(unexpected).toEqual([]);
  expect(settled.filter((result) => result.status === 'fulfilled').length).toBeGreaterThan(
    STORM_OPERATIONS / 2,
  );

  // Settling every packet credits what is owed and refunds the rest, so all money is back in the wallets.
  for (const packetId of packets) await finishPacket(db, packetId).catch(() => undefined);
  const { rows } = await db.query<{ kind: string; n: number; min_fen: number; sum_fen: number }>(
    `SELECT kind, count(*)::int AS n, min(balance_fen) AS min_fen, sum(balance_fen)::bigint AS sum_fen
       FROM accounts WHERE owner_id LIKE $1 GROUP BY kind ORDER BY kind`,
    [`storm-${tag}-%`],
  );
  const byKind = Object.fromEntries(rows.map((row) => [row.kind, row]));
  expect(byKind.escrow).toMatchObject({ min_fen: 0, sum_fen: 0 });
  expect(byKind.wallet?.min_fen).toBeGreaterThanOrEqual(0);
  expect(byKind.wallet?.sum_fen).toBe(STORM_WALLETS * STORM_START_FEN + depositedFen);
}
