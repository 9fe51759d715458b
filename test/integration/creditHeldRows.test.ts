/**
 * The lock wait of one credit step is bounded whatever number of claims sit behind held rows (issue 24,
 * finding 1): an escrow row held by another session blocks every claim of its packet, yet the step waits
 * for the batch's lock timeout and one more shared by the claims it then tries alone, not one per claim;
 * the claims of the other packet are credited in the same step, the blocked ones set aside and then retried
 * apart from the batch once the row is free.
 */
import { creditDueSetAside, creditNextBatch } from '../../packets/creditBatch';
import { openShare } from '../../packets/store/openShare';
import { expectAuditClean } from '../support/audit';
import { payDirectly } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';

const LOCK_TIMEOUT_MS = 300;
const BLOCKED_CLAIMS = 10;

describe('credit steps against held rows', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ CREDIT_SHARDS: '1' });
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
  });

  test('ten claims behind one held escrow row cost the step two lock timeouts, not eleven', async () => {
    const held = await payDirectly(h, 'held-escrow-sender', { type: 'fixed', totalFen: 1_000, count: 10 });
    const free = await payDirectly(h, 'free-escrow-sender', { type: 'fixed', totalFen: 500, count: 5 });
    for (let i = 0; i < BLOCKED_CLAIMS; i++) await openShare(h.db, held, `held-${i}`);
    for (let i = 0; i < 5; i++) await openShare(h.db, free, `free-${i}`);
    const slice = { shard: 0, shards: 1, largeMinFen: h.config.credit.largeMinFen, limit: 100 };
    const holder = await h.db.pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [`escrow:${held}`]);
      const startedMs = performance.now();
      const outcome = await creditNextBatch(h.db, slice, LOCK_TIMEOUT_MS);
      const tookMs = performance.now() - startedMs;
      process.stdout.write(
        `step with ${BLOCKED_CLAIMS} claims behind a held row: ${Math.round(tookMs)} ms\n`,
      );
      expect(outcome).toMatchObject({ picked: 15, credited: 5, creditedFen: 500, setAside: BLOCKED_CLAIMS });
      // One lock timeout per claim would be 11 x 300 ms; two, and the per-claim work, is what the budget allows.
      expect(tookMs).toBeLessThan(2 * LOCK_TIMEOUT_MS + 1_000);
      expect((await creditNextBatch(h.db, slice, LOCK_TIMEOUT_MS)).picked).toBe(0);
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    await h.db.query('UPDATE credit_failures SET retry_at = clock_timestamp()');
    const retried = await creditDueSetAside(h.db, slice, LOCK_TIMEOUT_MS);
    expect(retried).toMatchObject({ picked: BLOCKED_CLAIMS, credited: BLOCKED_CLAIMS, setAside: 0 });
    expect(retried.finished.map((packet) => packet.id)).toEqual([held]);
  });
});
