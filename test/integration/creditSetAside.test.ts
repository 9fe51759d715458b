/**
 * Issue 24, item 5: the credit path's bookkeeping. A set-aside row is never written for a claim another path
 * credited (it would never be deleted, and its packet would show CreditStuck for good); a stuck report is
 * marked sent only once its workflow has it; and the legacy credit wave takes the packet row before its
 * claims, as settlement does, so the two queue instead of deadlocking.
 */
import type { PoolClient } from 'pg';
import { createActivities } from '../../activities';
import { reportStuckCredits } from '../../packets/creditHealth';
import {
  creditLockedClaims,
  lockClaimIfQueued,
  newlyStuckPackets,
  recordCreditFailure,
  type CreditableClaim,
} from '../../packets/store/credits';
import { openShare } from '../../packets/store/openShare';
import type { StuckCredit } from '../../saga';
import { expectAuditClean } from '../support/audit';
import { eventually } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetInput, uniqueTag } from '../support/ledgerFixtures';

const RETRY_MS = () => 60_000;

describe('credit bookkeeping', () => {
  let h: Harness;
  let activities: ReturnType<typeof createActivities>;

  beforeAll(async () => {
    h = await createHarness({ CREDIT_SHARDS: '1' });
    activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  /** A paid packet of `count` shares, every share opened (uncredited), with its claims. */
  async function openedPacket(count: number): Promise<{ packetId: string; claims: CreditableClaim[] }> {
    const tag = uniqueTag();
    await fund(h.db, `s-${tag}`, 100 * count);
    const input = packetInput({
      packetId: `cs-${tag}`,
      senderId: `s-${tag}`,
      totalFen: 100 * count,
      shareCount: count,
    });
    await activities.payPacket(input);
    const claims: CreditableClaim[] = [];
    for (let i = 0; i < count; i++) {
      const claim = await openShare(h.db, input.packetId, `u${i}-${tag}`);
      claims.push({
        id: claim.claimId,
        packetId: claim.packetId,
        userId: claim.userId,
        amountFen: claim.amountFen,
      });
    }
    return { packetId: input.packetId, claims };
  }

  const setAsideRows = async (claimId: string) =>
    (await h.db.query('SELECT 1 FROM credit_failures WHERE claim_id = $1', [claimId])).rows.length;

  test('a failure recorded after another path credited the claim writes no set-aside row', async () => {
    const { claims } = await openedPacket(1);
    const claim = claims[0] as CreditableClaim;
    // The pump's attempt fails; meanwhile another path (settlement, the large-claim credit) credits it.
    await h.db.withTransaction(async (tx) => {
      const locked = await lockClaimIfQueued(tx, claim.id);
      await creditLockedClaims(tx, locked ? [locked] : []);
    });
    await recordCreditFailure(h.db, claim, 'the failed attempt, reported late', RETRY_MS);
    expect(await setAsideRows(claim.id)).toBe(0);
  });

  test('a failure of an uncredited claim is set aside, and counted again on the next failure', async () => {
    const { claims } = await openedPacket(1);
    const claim = claims[0] as CreditableClaim;
    await recordCreditFailure(h.db, claim, 'first', RETRY_MS);
    await recordCreditFailure(h.db, claim, 'second', RETRY_MS);
    const { rows } = await h.db.query<{ attempts: number; last_error: string }>(
      'SELECT attempts, last_error FROM credit_failures WHERE claim_id = $1',
      [claim.id],
    );
    expect(rows).toEqual([{ attempts: 2, last_error: 'second' }]);
    // Clean up as a later credit would, so the audit sees no leftover row.
    await h.db.withTransaction(async (tx) => {
      const locked = await lockClaimIfQueued(tx, claim.id);
      await creditLockedClaims(tx, locked ? [locked] : []);
    });
  });

  test('a stuck report is marked sent only after its workflow was told, so a lost signal is sent again', async () => {
    const { packetId, claims } = await openedPacket(1);
    const claim = claims[0] as CreditableClaim;
    await recordCreditFailure(h.db, claim, 'credit refused', RETRY_MS);
    const slice = { shard: 0, shards: 1 };
    expect(await newlyStuckPackets(h.db, slice, 0)).toContain(packetId);

    const told: StuckCredit[][] = [];
    // The signal is lost (Temporal unreachable, say): the report stays unsent.
    await reportStuckCredits(h.db, 0, [packetId], (_packetId, stuck) => {
      told.push(stuck);
      return Promise.resolve(false);
    });
    expect(await newlyStuckPackets(h.db, slice, 0)).toContain(packetId);
    // The next check sends it again; once delivered it is marked.
    await reportStuckCredits(h.db, 0, [packetId], (_packetId, stuck) => {
      told.push(stuck);
      return Promise.resolve(true);
    });
    expect(await newlyStuckPackets(h.db, slice, 0)).not.toContain(packetId);
    expect(told).toEqual([
      [expect.objectContaining({ claimId: claim.id, userId: claim.userId, lastError: 'credit refused' })],
      [expect.objectContaining({ claimId: claim.id, userId: claim.userId, lastError: 'credit refused' })],
    ]);
    await h.db.withTransaction(async (tx) => {
      const locked = await lockClaimIfQueued(tx, claim.id);
      await creditLockedClaims(tx, locked ? [locked] : []);
    });
  });

  describe('the legacy credit wave', () => {
    let settlement: PoolClient;
    beforeEach(async () => {
      settlement = await h.db.pool.connect();
    });
    afterEach(async () => {
      await settlement.query('ROLLBACK');
      settlement.release();
    });

    test('takes the packet row before the claims, so it queues behind a settlement instead of deadlocking', async () => {
      const { packetId, claims } = await openedPacket(2);
      // Settlement's order: the packet row first, then its claims.
      await settlement.query('BEGIN');
      await settlement.query('SELECT 1 FROM packets WHERE id = $1 FOR UPDATE', [packetId]);
      const settlementPid = (await settlement.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))
        .rows[0]?.pid;
      const wave = activities.creditClaims(packetId);
      await eventually(
        async () => {
          const { rows } = await h.db.query<{ n: number }>(
            'SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid))',
            [settlementPid],
          );
          return (rows[0]?.n ?? 0) > 0 ? true : undefined;
        },
        10_000,
        'the wave to wait for the settlement',
      );
      const settlementClaims = settlement.query(
        'SELECT id FROM claims WHERE packet_id = $1 AND credited_at IS NULL ORDER BY seq FOR UPDATE',
        [packetId],
      );
      // Postgres breaks a deadlock by failing one side (40P01) after deadlock_timeout: both must succeed.
      await expect(settlementClaims).resolves.toMatchObject({ rowCount: 2 });
      await settlement.query('COMMIT');
      const result = await wave;
      expect(result).toMatchObject({ finished: true, uncreditedCount: 0 });
      expect(result.creditedClaimIds.sort()).toEqual(claims.map((claim) => claim.id).sort());
    });
  });
});
