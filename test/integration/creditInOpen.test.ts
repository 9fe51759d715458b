/**
 * CREDIT_SYNC_MIN_FEN: a claim at or above it is credited inside the transaction that inserts it, a
 * smaller one is left to the pump, and the pump never credits a synchronously credited claim again.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { creditNextBatch } from '../../packets/creditBatch';
import { creditInOpen } from '../../packets/creditInOpen';
import { expectAuditClean } from '../support/audit';
import { creditsPerClaim, payDirectly } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, fund } from '../support/packets';

describe('credit inside the open transaction', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ CREDIT_SHARDS: '1', CREDIT_SYNC_MIN_FEN: '1000' });
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
  });

  /** Claims one share the way the open transaction does (packet row locked, claim inserted), then credits. */
  function claimAndCredit(packetId: string, seq: number, userId: string, amountFen: number) {
    return h.db.withTransaction(async (tx) => {
      await tx.query('SELECT 1 FROM packets WHERE id = $1 FOR UPDATE', [packetId]);
      const id = `${packetId}-${seq}`;
      await tx.query(
        `WITH taken AS (UPDATE packets SET remaining_fen = remaining_fen - $4, remaining_count = remaining_count - 1
           WHERE day = day_of_id($2) AND id = $2)
         INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen) VALUES (day_of_id($2), $1, $2, $3, $5, $4)`,
        [id, packetId, userId, amountFen, seq],
      );
      return creditInOpen(tx, { id, packetId, userId, amountFen }, h.config.credit.syncMinFen);
    });
  }

  test('a large claim is credited in the open, a small one by the pump, each once', async () => {
    // Random: 1,500 of 2,499 over two shares is within the double average (the audit checks it).
    const packetId = await payDirectly(h, 'sync-sender', { type: 'random', totalFen: 2_499, count: 2 });
    expect(await claimAndCredit(packetId, 1, 'sync-large', 1_500)).toBe(true);
    expect(await balanceOf(h, 'sync-large')).toBe(1_500);
    const slice = { shard: 0, shards: 1, largeMinFen: h.config.credit.largeMinFen, limit: 10 };
    const before = await creditNextBatch(h.db, slice);
    expect(before.credited).toBe(0);
    expect(await claimAndCredit(packetId, 2, 'sync-small', 999)).toBe(false);
    expect(await balanceOf(h, 'sync-small')).toBe(0);
    const after = await creditNextBatch(h.db, slice);
    expect(after).toMatchObject({ credited: 1, creditedFen: 999 });
    expect([...(await creditsPerClaim(h, [packetId])).values()]).toEqual([1, 1]);
  });

  test('through the API, a large share opens as credited and reaches the wallet before the answer', async () => {
    await h.startWorker();
    const app = h.app();
    const auth = async (userId: string) => ({ Authorization: `Bearer ${await h.tokenFor(userId)}` });
    await fund(h, 'api-sender', 3_000);
    const sent = await request(app)
      .post('/v1/packets')
      .set(await auth('api-sender'))
      .set('Idempotency-Key', randomUUID())
      .send({ type: 'fixed', amountFen: 3_000, count: 2 });
    expect(sent.status).toBe(201);
    const packetId = sent.body.packetId as string;
    expect(
      (
        await request(app)
          .post(`/v1/packets/${packetId}/grab`)
          .set(await auth('api-large'))
      ).status,
    ).toBe(200);
    const opened = await request(app)
      .post(`/v1/packets/${packetId}/open`)
      .set(await auth('api-large'));
    expect(opened.body).toMatchObject({ amountFen: 1_500, creditStatus: 'credited' });
    expect(await balanceOf(h, 'api-large')).toBe(1_500);
    expect([...(await creditsPerClaim(h, [packetId])).values()]).toEqual([1]);
  });
});
