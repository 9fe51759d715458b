/**
 * Issue 24, item 5: the credit path's bookkeeping. A set-aside row is never written for a claim another path
 * credited (it would never be deleted, and its packet would show CreditStuck for good); a stuck report is
 * marked sent only once its workflow has it.
 */
import { createActivities } from '../../activities';
import { reportStuckCredits } from '../../packets/creditHealth';
import { creditLockedClaims, lockClaimIfQueued, type CreditableClaim } from '../../packets/store/credits';
import { newlyStuckPackets, recordCreditFailure } from '../../packets/store/creditFailures';
import { openShare } from '../../packets/store/openShare';
import type { StuckCredit } from '../../saga';
import { expectAuditClean } from '../support/audit';
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
});
