/**
 * The credit pump's own figures (packets/store/pumpFigures.ts, docs/operators.md) against real Postgres: the
 * backlog counts every uncredited claim of the shard, the oldest age follows the claim the pump would pick
 * next (a set-aside claim is not it), set-aside and stuck claims are counted with their packets, other
 * shards' claims are not, and the reader in the activity sets the gauges at most once per interval.
 */
import { createActivities } from '../../activities';
import {
  PUMP_FIGURES_INTERVAL_MS,
  pumpFiguresReader,
  type CreditPumpMetrics,
} from '../../activities/creditPumpMetrics';
import { creditLockedClaims, lockClaimIfQueued, shardOfHash } from '../../packets/store/credits';
import { recordCreditFailure } from '../../packets/store/creditFailures';
import { openShare } from '../../packets/store/openShare';
import { readPumpFigures, type PumpFigures } from '../../packets/store/pumpFigures';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetInput, uniqueTag } from '../support/ledgerFixtures';

const SHARDS = 2;
const STUCK_AFTER_MS = 60_000;

describe('the credit pump figures', () => {
  let h: Harness;
  let activities: ReturnType<typeof createActivities>;

  beforeAll(async () => {
    h = await createHarness({ CREDIT_SHARDS: String(SHARDS) });
    activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
  });

  const shardOf = async (packetId: string) => {
    const { rows } = await h.db.query<{ hash: number }>('SELECT (hashtext($1) & 2147483647)::int AS hash', [
      packetId,
    ]);
    return shardOfHash(rows[0]?.hash ?? 0, SHARDS);
  };

  /** A paid packet whose shares are all opened and none credited; packets are drawn until one is in `shard`. */
  async function openedPacket(shard: number, count: number) {
    for (;;) {
      const tag = uniqueTag();
      const packetId = `pf-${tag}`;
      if ((await shardOf(packetId)) !== shard) continue;
      await fund(h.db, `s-${tag}`, 100 * count);
      await activities.payPacket(
        packetInput({ packetId, senderId: `s-${tag}`, totalFen: 100 * count, shareCount: count }),
      );
      const claims = [];
      for (let i = 0; i < count; i++) claims.push(await openShare(h.db, packetId, `u${i}-${tag}`));
      return { packetId, claims };
    }
  }

  const creditAll = async (claimIds: string[]) => {
    for (const claimId of claimIds)
      await h.db.withTransaction(async (tx) => {
        const locked = await lockClaimIfQueued(tx, claimId);
        await creditLockedClaims(tx, locked ? [locked] : []);
      });
  };

  test('count the shard backlog, the oldest claim in the queue, and the set-aside and stuck claims', async () => {
    const slice = { shard: 0, shards: SHARDS };
    expect(await readPumpFigures(h.db, slice, STUCK_AFTER_MS)).toEqual({
      backlog: 0,
      oldestUncreditedAgeSeconds: 0,
      setAside: 0,
      stuckClaims: 0,
      stuckPackets: 0,
    });
    const mine = await openedPacket(0, 3);
    const other = await openedPacket(1, 2);
    // The oldest claim of shard 0 fails and is set aside, as if for over a minute: the pump no longer takes
    // it from the queue, so the oldest age is the next claim's, which is younger than 50 s.
    const [first, ...rest] = mine.claims;
    if (!first) throw new Error('no claim');
    await h.db.query(`UPDATE claims SET created_at = created_at - interval '100 seconds' WHERE id = $1`, [
      first.claimId,
    ]);
    await recordCreditFailure(
      h.db,
      { id: first.claimId, packetId: mine.packetId, userId: first.userId, amountFen: first.amountFen },
      'a wallet row held elsewhere',
      () => 60_000,
    );
    await h.db.query(
      `UPDATE credit_failures SET first_failed_at = first_failed_at - interval '90 seconds' WHERE claim_id = $1`,
      [first.claimId],
    );
    await h.db.query(`UPDATE claims SET created_at = created_at - interval '50 seconds' WHERE id = $1`, [
      rest[0]?.claimId,
    ]);
    const figures = await readPumpFigures(h.db, slice, STUCK_AFTER_MS);
    expect(figures).toMatchObject({ backlog: 3, setAside: 1, stuckClaims: 1, stuckPackets: 1 });
    expect(figures.oldestUncreditedAgeSeconds).toBeGreaterThanOrEqual(50);
    expect(figures.oldestUncreditedAgeSeconds).toBeLessThan(90);
    // Not yet past a longer threshold: set aside, not stuck.
    expect(await readPumpFigures(h.db, slice, 120_000)).toMatchObject({ setAside: 1, stuckClaims: 0 });
    expect(await readPumpFigures(h.db, { shard: 1, shards: SHARDS }, STUCK_AFTER_MS)).toMatchObject({
      backlog: 2,
      setAside: 0,
      stuckClaims: 0,
    });

    await creditAll([...mine.claims, ...other.claims].map((claim) => claim.claimId));
    expect(await readPumpFigures(h.db, slice, STUCK_AFTER_MS)).toEqual({
      backlog: 0,
      oldestUncreditedAgeSeconds: 0,
      setAside: 0,
      stuckClaims: 0,
      stuckPackets: 0,
    });
  });

  test('the run reads them at once, then at most once per interval, and only logs a failed read', async () => {
    const seen: PumpFigures[] = [];
    const metrics: CreditPumpMetrics = {
      batch: () => undefined,
      outcome: () => undefined,
      figures: (_shard, figures) => seen.push(figures),
    };
    const warnings: string[] = [];
    const slice = { shard: 0, shards: SHARDS, largeMinFen: 5_000, limit: 10 };
    const reader = pumpFiguresReader(h.db, slice, STUCK_AFTER_MS, metrics, (message) =>
      warnings.push(message),
    );
    await reader.due();
    await reader.due();
    expect(seen).toHaveLength(1);
    expect(PUMP_FIGURES_INTERVAL_MS).toBeGreaterThan(1_000);

    const broken = {
      ...h.db,
      query: () => Promise.reject(new Error('connection refused')),
    } as unknown as typeof h.db;
    await pumpFiguresReader(broken, slice, STUCK_AFTER_MS, metrics, (message) =>
      warnings.push(message),
    ).due();
    expect(warnings).toEqual(['credit pump figures not read']);
  });
});
