/**
 * Concurrency: replays racing each other, and a storm of the production money movements (deposits, the pay,
 * settle activities, the credit pump's batch, the open transaction) over shared wallets that only a single global
 * lock order keeps free of deadlocks. The storm keeps its own tally of every movement that succeeded and
 * compares the ledger with it to the fen.
 */
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../activities';
import { creditNextBatch } from '../../packets/creditBatch';
import { escrowAccount, walletAccount } from '../../domain/accounts';
import { ErrorCode, isDomainError } from '../../domain/errors';
import { deposit } from '../../ledger/deposits';
import { openShare } from '../../packets/store/openShare';
import type { PacketInput } from '../../saga';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, uniqueTag } from '../support/ledgerFixtures';
import {
  claimsNotCreditedOnce,
  claimsOf,
  escrowOutflows,
  sumOf,
  walletBalances,
} from '../support/moneyFigures';

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

  test('400 concurrent deposits, payments, opens, credit batches and settlements over 20 wallets never deadlock, and every fen is where the tally says', async () => {
    await runMoneyStorm(h);
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
/** Packets paid before the storm, that the storm opens, credits and settles. */
const STORM_PACKETS = 8;
/** Claims opened on each packet before the storm, so the first credit batch locks this many wallets at once. */
const STORM_CLAIMS_PER_PACKET = 12;
/** Half of them have two shares left for the storm, which claims them to the last; half have plenty. */
const STORM_SHARES = [STORM_CLAIMS_PER_PACKET + 2, 40] as const;
const STORM_OPERATIONS = 400;
/** These operations settle the first half of the packets in the middle of the storm, as expiry would. */
const STORM_SETTLE_AT = 200;
const STORM_START_FEN = 5_000;
const DAY_MS = 86_400_000;

/** What the storm knows moved: each successful movement is added here, and only those. */
interface Tally {
  walletFen: Map<string, number>;
  packets: Map<string, { senderId: string; totalFen: number; claims: Map<string, number> }>;
  refusedPackets: string[];
  depositedFen: number;
}

const isRefusal = (err: unknown, codes: ErrorCode[]): boolean =>
  codes.some((code) => isDomainError(err, code)) ||
  (err instanceof ApplicationFailure && codes.some((code) => err.type === code));

/**
 * The deadlock hunt: credit batches across packets lock overlapping sets of wallets, whatever the order the
 * claims were opened in, while deposits, payments, opens and settlements take the same wallets.
 * Only the refusals a caller must expect are tolerated: a payment the wallet cannot cover, an open of a
 * packet already exhausted or settled. Anything else (a deadlock, a conflict) fails the storm.
 */
async function runMoneyStorm(h: Harness): Promise<void> {
  const { db } = h;
  const activities = createActivities({ db, redis: h.redis, credit: h.config.credit });
  const tag = uniqueTag();
  // Choices are drawn before anything runs, so they are the same every run; share sizes are drawn as the
  // opens commit, from their own generator.
  const random = seededRandom(0x5eed);
  const drawFen = seededRandom(0xd1ce);
  const DRAW_STEPS = 1 << 30;
  const draw = () => drawFen(DRAW_STEPS) / DRAW_STEPS;
  const users = Array.from({ length: STORM_WALLETS }, (_, i) => `storm-${tag}-${i}`);
  const pick = <T>(items: T[]): T => items[random(items.length)]!;
  const shuffled = <T>(items: T[]): T[] =>
    items
      .map((item) => [random(1 << 30), item] as const)
      .sort((a, b) => a[0] - b[0])
      .map(([, item]) => item);
  const tally: Tally = {
    walletFen: new Map(users.map((userId) => [userId, STORM_START_FEN])),
    packets: new Map(),
    refusedPackets: [],
    depositedFen: 0,
  };
  const credit = (userId: string, deltaFen: number) =>
    tally.walletFen.set(userId, tally.walletFen.get(userId)! + deltaFen);

  const pay = async (packetId: string, senderId: string, totalFen: number, count: number) => {
    const input: PacketInput = {
      packetId,
      senderId,
      type: 'random',
      totalFen,
      count,
      greeting: null,
      recipientId: null,
      audience: null,
      expiresAtMs: Date.now() + DAY_MS,
      fingerprint: `storm-${packetId}`,
      creditStuckAfterMs: 60_000,
    };
    try {
      await activities.payPacket(input);
    } catch (err) {
      if (!isRefusal(err, [ErrorCode.InsufficientFunds])) throw err;
      tally.refusedPackets.push(packetId);
      return;
    }
    tally.packets.set(packetId, { senderId, totalFen, claims: new Map() });
    credit(senderId, -totalFen);
  };
  const open = async (packetId: string, userId: string) => {
    try {
      const claim = await openShare(db, packetId, userId, { draw });
      if (claim.created) tally.packets.get(packetId)!.claims.set(userId, claim.amountFen);
    } catch (err) {
      if (!isRefusal(err, [ErrorCode.PacketExhausted, ErrorCode.PacketExpired])) throw err;
    }
  };

  for (const userId of users)
    await deposit(db, { key: `fund-${userId}`, userId, amountFen: STORM_START_FEN });
  // Claims go to these packets, paid up front; packets paid during the storm only take money in.
  const claimable = users.slice(0, STORM_PACKETS).map((_, i) => `storm-${tag}-p${i}`);
  const firstOpeners = claimable.map(() => shuffled(users).slice(0, STORM_CLAIMS_PER_PACKET));
  await Promise.all(
    claimable.map(async (packetId, i) => {
      await pay(packetId, users[i]!, 2_000, STORM_SHARES[i % STORM_SHARES.length]!);
      for (const userId of firstOpeners[i]!) await open(packetId, userId);
    }),
  );
  expect([...tally.packets.keys()].sort()).toEqual([...claimable].sort());

  const operations = Array.from({ length: STORM_OPERATIONS }, (_, i): (() => Promise<unknown>) => {
    if (i >= STORM_SETTLE_AT && i < STORM_SETTLE_AT + STORM_PACKETS / 2) {
      return () => activities.settlePacket(claimable[i - STORM_SETTLE_AT]!);
    }
    const packetId = pick(claimable);
    const userId = pick(users);
    switch (random(6)) {
      case 0: {
        const amountFen = 1 + random(500);
        return () =>
          deposit(db, { key: `storm-${tag}-d${i}`, userId, amountFen }).then(() => {
            tally.depositedFen += amountFen;
            credit(userId, amountFen);
          });
      }
      case 1: {
        const totalFen = 1 + random(3_000);
        const count = 1 + random(Math.min(totalFen, 10));
        return () => pay(`storm-${tag}-n${i}`, userId, totalFen, count);
      }
      case 2:
      case 3:
        return () => open(packetId, userId);
      default:
        // The credit pump's batch, across packets.
        return () => creditNextBatch(db, { shard: 0, shards: 1, largeMinFen: 1_000, limit: 50 });
    }
  });
  const settled = await Promise.allSettled(operations.map((operation) => operation()));
  expect(
    settled.flatMap((result) => (result.status === 'rejected' ? [result.reason as unknown] : [])),
  ).toEqual([]);

  // Settling every packet credits what is owed and refunds the rest, so all money is back in the wallets.
  for (const [packetId, packet] of tally.packets) {
    const claimedFen = [...packet.claims.values()].reduce((sum, amountFen) => sum + amountFen, 0);
    // A packet settled mid-storm, or finished by its last credit, answers with its recorded refund.
    expect(await activities.settlePacket(packetId)).toMatchObject({
      refundFen: packet.totalFen - claimedFen,
    });
    for (const [userId, amountFen] of packet.claims) credit(userId, amountFen);
    credit(packet.senderId, packet.totalFen - claimedFen);
  }
  await expectLedgerMatchesTally(h, tally);
}

/** The ledger, read back from Postgres, is exactly the tally: wallets, escrows, claims, credits, refunds. */
async function expectLedgerMatchesTally(h: Harness, tally: Tally): Promise<void> {
  const { db } = h;
  const users = [...tally.walletFen.keys()];
  const wallets = await walletBalances(db, users);
  expect(wallets).toEqual(tally.walletFen);
  // Only deposits bring money in, and once every packet is settled all of it is back in the wallets.
  expect([...wallets.values()].reduce((sum, fen) => sum + fen, 0)).toBe(
    STORM_WALLETS * STORM_START_FEN + tally.depositedFen,
  );
  for (const [packetId, packet] of tally.packets) {
    const claims = await claimsOf(db, packetId);
    expect(new Map(claims.map((claim) => [claim.userId, claim.amountFen]))).toEqual(packet.claims);
    const claimedFen = sumOf(claims);
    expect(await escrowOutflows(db, packetId)).toEqual({
      creditCount: claims.length,
      creditFen: claimedFen,
      refundFen: packet.totalFen - claimedFen,
      balanceFen: 0,
    });
    const { rows } = await db.query<{ status: string; refund_fen: number; total_fen: number }>(
      'SELECT status, refund_fen, total_fen FROM packets WHERE id = $1',
      [packetId],
    );
    expect(rows).toEqual([
      { status: 'finished', refund_fen: packet.totalFen - claimedFen, total_fen: packet.totalFen },
    ]);
  }
  expect(await claimsNotCreditedOnce(db, [...tally.packets.keys()])).toEqual([]);
  // A refused payment left nothing behind: no packet row, no escrow, no transfer.
  const { rows: leftovers } = await db.query<{ id: string }>(
    `SELECT id FROM packets WHERE id = ANY($1::text[])
     UNION ALL SELECT id FROM accounts WHERE id = ANY($2::text[])
     UNION ALL SELECT id FROM transfers WHERE packet_id = ANY($1::text[])`,
    [tally.refusedPackets, tally.refusedPackets.map(escrowAccount)],
  );
  expect(leftovers).toEqual([]);
  const claimCount = [...tally.packets.values()].reduce((sum, packet) => sum + packet.claims.size, 0);
  process.stdout.write(
    `money storm: ${tally.packets.size} packets paid, ${tally.refusedPackets.length} refused, ` +
      `${claimCount} claims, ${tally.depositedFen} fen deposited\n`,
  );
}
