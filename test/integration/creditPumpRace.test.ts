/**
 * The pump's batch step and settlement are production functions that may run at the same moment on the
 * same packet (expiry while the pump credits). Lock order (packet row, claims, accounts; the pump skips
 * locked claims, and waits on a packet row only in its "finished" mark, holding nothing else) means no
 * deadlock, no double credit, and a refund of exactly total minus claims, whatever the interleaving.
 */
import type { Db, Tx } from '../../db';
import { creditNextBatch } from '../../packets/creditBatch';
import { openShare } from '../../packets/store/openShare';
import { expectAuditClean } from '../support/audit';
import { activitiesOf, creditsPerClaim, eventually, payDirectly, uniqueUser } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';

const ROUNDS = 40;
const SHARES = 6;

describe('credit pump and settlement on the same packet', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ CREDIT_SHARDS: '1', CREDIT_BATCH_MAX: '4' });
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
  });

  // settlePacket is the settlement of workflows started before `settle-leaves-owed`; closeAndRefund leaves
  // owed claims to the pumps, which then finish the packet.
  test.each(['settlePacket', 'closeAndRefund'] as const)(
    `with %s, run concurrently ${ROUNDS} times, they never deadlock, credit each claim once and refund total minus claims`,
    async (settle) => {
      const activities = activitiesOf(h);
      const slice = { shard: 0, shards: 1, largeMinFen: h.config.credit.largeMinFen, limit: 4 };
      const packetIds: string[] = [];
      for (let round = 0; round < ROUNDS; round++) {
        const packetId = await payDirectly(h, uniqueUser('racer'), {
          type: 'random',
          totalFen: 600,
          count: SHARES,
        });
        packetIds.push(packetId);
        // Most rounds leave shares unopened (settlement refunds them); every sixth is fully opened, so the
        // pump may finish the packet while settlement closes it.
        const opened = 1 + (round % SHARES);
        await Promise.all(
          Array.from({ length: opened }, (_, i) => openShare(h.db, packetId, `racer-${round}-${i}`)),
        );
        // Two pumps (a zombie run and its retry) and the expiry settlement, released together.
        const [, , settled] = await Promise.all([
          creditNextBatch(h.db, slice),
          creditNextBatch(h.db, slice),
          activities[settle](packetId),
          creditNextBatch(h.db, slice),
        ]);
        const { rows } = await h.db.query<{ claimed: number; refund: number; total: number }>(
          `SELECT coalesce((SELECT sum(amount_fen) FROM claims WHERE packet_id = $1), 0)::bigint AS claimed,
                p.refund_fen AS refund, p.total_fen AS total FROM packets p WHERE p.id = $1`,
          [packetId],
        );
        const row = rows[0]!;
        expect(settled.refundFen).toBe(row.total - row.claimed);
        expect(row.refund).toBe(row.total - row.claimed);
      }
      // What settlement left owed, the pump credits, finishing each packet.
      while ((await creditNextBatch(h.db, { ...slice, limit: 100 })).picked > 0);
      const perClaim = await creditsPerClaim(h, packetIds);
      expect([...perClaim.values()].every((n) => n === 1)).toBe(true);
      expect(perClaim.size).toBeGreaterThan(ROUNDS);
      const { rows } = await h.db.query<{ status: string }>(
        'SELECT DISTINCT status FROM packets WHERE id = ANY($1::text[])',
        [packetIds],
      );
      expect(rows).toEqual([{ status: 'finished' }]);
    },
    120_000,
  );

  test('when settlement reads a claim as owed while a pump commits its credit, the packet still ends finished', async () => {
    const slice = { shard: 0, shards: 1, largeMinFen: h.config.credit.largeMinFen, limit: 4 };
    const packetId = await payDirectly(h, uniqueUser('owed'), { type: 'fixed', totalFen: 300, count: 3 });
    await openShare(h.db, packetId, uniqueUser('owed-a'));
    // The pump's batch has credited the claim (holding the escrow row) and waits to commit.
    let commit!: () => void;
    const committing = new Promise<void>((resolve) => (commit = resolve));
    let credited!: () => void;
    const hasCredited = new Promise<void>((resolve) => (credited = resolve));
    const heldDb: Db = {
      ...h.db,
      pool: h.db.pool,
      schema: h.db.schema,
      withTransaction: <T>(fn: (tx: Tx) => Promise<T>) =>
        h.db.withTransaction(async (tx) => {
          const result = await fn(tx);
          credited();
          await committing;
          return result;
        }),
    };
    const batch = creditNextBatch(heldDb, slice);
    await hasCredited;
    // Settlement reads the claim uncredited, then waits for the escrow row to post the refund.
    const settled = activitiesOf(h).closeAndRefund(packetId);
    await eventually(
      async () => {
        const { rows } = await h.db.query(
          `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
             AND query LIKE '%FROM accounts%'`,
        );
        return rows.length > 0 ? true : undefined;
      },
      10_000,
      'settlement to wait for the escrow row',
    );
    commit();
    // The pump's mark ran while settlement still held the row of a packet it saw open, so it left it;
    // settlement's own mark after its commit sees the credit.
    expect(await settled).toMatchObject({ refundFen: 200, owedCount: 0, finished: true });
    await batch;
    const { rows } = await h.db.query<{ status: string; refund_fen: number }>(
      'SELECT status, refund_fen FROM packets WHERE id = $1',
      [packetId],
    );
    expect(rows[0]).toEqual({ status: 'finished', refund_fen: 200 });
  });

  test('a fully credited packet whose row an open holds at that moment is still marked finished', async () => {
    const slice = { shard: 0, shards: 1, largeMinFen: h.config.credit.largeMinFen, limit: 4 };
    const packetId = await payDirectly(h, uniqueUser('held'), { type: 'random', totalFen: 300, count: 2 });
    await openShare(h.db, packetId, uniqueUser('held-a'));
    await openShare(h.db, packetId, uniqueUser('held-b'));
    // A late open of the exhausted packet (or any statement) holds its row while the batch commits.
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const holder = h.db.withTransaction(async (tx) => {
      await tx.query('SELECT 1 FROM packets WHERE id = $1 FOR UPDATE', [packetId]);
      locked();
      await released;
    });
    await isLocked;
    const batch = creditNextBatch(h.db, slice);
    // The batch credits both claims, then waits for the row instead of skipping it.
    for (let i = 0; i < 100; i++) {
      const { rows } = await h.db.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM claims WHERE packet_id = $1 AND credited_at IS NOT NULL',
        [packetId],
      );
      if (rows[0]?.n === 2) break;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    release();
    await holder;
    const outcome = await batch;
    expect(outcome.finished.map((packet) => packet.id)).toEqual([packetId]);
    const { rows } = await h.db.query<{ status: string }>('SELECT status FROM packets WHERE id = $1', [
      packetId,
    ]);
    expect(rows[0]?.status).toBe('finished');
  });
});
