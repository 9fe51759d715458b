/**
 * The open in one statement (open_share, db/functions/open_share.sql): its share is the allocation rule of
 * share_from_draw (its properties: allocation.test.ts), and it alone refuses openers the packet is not for and opens past expiry by the
 * database's clock, whatever the Redis gate said.
 */
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import type { Express } from 'express';
import { ErrorCode } from '../../domain/errors';
import type { PacketType } from '../../domain/limits';
import { openShare, openShares, type OpenedClaim } from '../../packets/store/openShare';
import { expectAuditClean } from '../support/audit';
import { countOpenStatements, type CountedDb } from '../support/openCounter';
import { drawArbitrary } from '../support/draws';
import { createHarness, type Harness } from '../support/harness';
import { fund } from '../support/packets';

describe('the open statement', () => {
  let h: Harness;
  let app: Express;
  let counted: CountedDb;
  let appWithoutRedis: Express;

  const auth = async (userId: string) => ({ Authorization: `Bearer ${await h.tokenFor(userId)}` });
  /** Moves a packet's expiry a second into the past by Postgres' clock (Redis and this host still count on). */
  const expireInPostgres = (packetId: string) =>
    h.db.query(`UPDATE packets SET expires_at = clock_timestamp() - interval '1 second' WHERE id = $1`, [
      packetId,
    ]);
  const sent = async (senderId: string, body: object): Promise<string> => {
    await fund(h, senderId, (body as { amountFen: number }).amountFen);
    const res = await request(app)
      .post('/v1/packets')
      .set(await auth(senderId))
      .set('Idempotency-Key', `send-${randomUUID()}`)
      .send(body);
    expect(res.status).toBe(201);
    return res.body.packetId as string;
  };
  const call = async (on: Express, action: 'grab' | 'open', userId: string, packetId: string) =>
    request(on)
      .post(`/v1/packets/${packetId}/${action}`)
      .set(await auth(userId));

  beforeAll(async () => {
    h = await createHarness({ RATE_LIMIT_PACKET_DEGRADED_PER_SECOND: '1000' });
    await h.startWorker();
    counted = countOpenStatements(h.db);
    app = h.app({ db: counted.db });
    appWithoutRedis = h.app({ redis: await h.unreachableRedis() });
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  /** The share the rule's owner, Postgres' share_from_draw, gives for this draw. */
  const ruleShare = async (type: PacketType, remainingFen: number, remainingCount: number, draw: number) => {
    const { rows } = await h.db.query<{ share: number }>('SELECT share_from_draw($1, $2, $3, $4) AS share', [
      type,
      remainingFen,
      remainingCount,
      draw,
    ]);
    return rows[0]?.share;
  };

  test.each([
    ['random', 20_000, 100],
    ['random', 100, 100],
    ['fixed', 9_900, 100],
  ] as const)(
    'open_share draws every share of a %s packet (%i fen, %i shares) by share_from_draw, to the last',
    async (type, amountFen, count) => {
      const packetId = await sent(`draws-${type}-${count}`, { type, amountFen, count });
      const draws = fc.sample(drawArbitrary, { numRuns: count, seed: amountFen + count });
      let remainingFen: number = amountFen;
      for (let i = 0; i < count; i += 1) {
        const draw = draws[i] as number;
        const expected = (await ruleShare(type, remainingFen, count - i, draw)) as number;
        const claim = await openShare(h.db, packetId, `drawer${i}`, { draw: () => draw });
        expect(claim).toMatchObject({ created: true, seq: i + 1, amountFen: expected });
        remainingFen -= expected;
      }
      expect(remainingFen).toBe(0);
      await expect(openShare(h.db, packetId, 'late')).rejects.toMatchObject({
        code: ErrorCode.PacketExhausted,
      });
    },
  );

  test('a batch of opens in one statement draws each share by share_from_draw, in order, as single opens would', async () => {
    const count = 40;
    const amountFen = 8_000;
    const packetId = await sent('batchsender', { type: 'random', amountFen, count });
    const openers = Array.from({ length: count }, (_, i) => `batcher${i}`);
    // A double tap inside the batch, and one opener too many for the packet.
    openers.splice(5, 0, 'batcher3');
    openers.push('batchlate');
    // One draw per opener, in the openers' order.
    const draws = fc.sample(drawArbitrary, { numRuns: openers.length, seed: 7 });
    let next = 0;
    const results = await openShares(h.db, packetId, openers, { draw: () => draws[next++] as number });
    expect(results).toHaveLength(openers.length);
    let remainingFen = amountFen;
    let drawn = 0;
    const claims = new Map<string, OpenedClaim>();
    for (const [i, userId] of openers.entries()) {
      const result = results[i];
      if (userId === 'batchlate') {
        expect(result).toMatchObject({ code: ErrorCode.PacketExhausted });
        continue;
      }
      if (i === 5) {
        // The repeat gets the claim its first tap made, and no draw is spent on it.
        expect(result).toEqual({ ...claims.get('batcher3'), created: false });
        continue;
      }
      const draw = draws[i] as number;
      const expected = (await ruleShare('random', remainingFen, count - drawn, draw)) as number;
      expect(result).toMatchObject({ created: true, userId, seq: drawn + 1, amountFen: expected });
      claims.set(userId, result as OpenedClaim);
      remainingFen -= expected;
      drawn += 1;
    }
    expect(remainingFen).toBe(0);
  });

  test('in a batch, the statement refuses a stranger to the audience (404) in its place and opens for the rest', async () => {
    const packetId = await sent('batchaud', {
      type: 'random',
      amountFen: 300,
      count: 3,
      audience: ['batchaud', 'ann', 'ben', 'cal'],
    });
    const results = await openShares(h.db, packetId, ['ann', 'mallory', 'batchaud', 'ben', 'cal']);
    expect(results.map((one) => (one instanceof Error ? (one as { code?: string }).code : 'opened'))).toEqual(
      ['opened', ErrorCode.PacketNotFound, ErrorCode.PacketNotFound, 'opened', 'opened'],
    );
    const unknown = await openShares(h.db, `${packetId}x`, ['ann', 'ben']);
    expect(unknown).toEqual([
      expect.objectContaining({ code: ErrorCode.PacketNotFound }),
      expect.objectContaining({ code: ErrorCode.PacketNotFound }),
    ]);
  });

  test('in a batch, an opener who opened before gets that claim back (credited or not), and an expired packet refuses every new opener (410)', async () => {
    const packetId = await sent('batchrepeat', {
      type: 'random',
      amountFen: 400,
      count: 4,
      expiresInSeconds: 3_600,
    });
    const first = await openShare(h.db, packetId, 'rita');
    const second = await openShare(h.db, packetId, 'sam');
    await h.db.query('UPDATE claims SET credited_at = clock_timestamp() WHERE id = $1', [second.claimId]);
    const results = await openShares(h.db, packetId, ['tom', 'rita', 'sam', 'tom']);
    const tom = results[0] as OpenedClaim;
    expect(tom).toMatchObject({ created: true, seq: 3, credited: false });
    expect(results[1]).toEqual({ ...first, created: false });
    expect(results[2]).toEqual({ ...second, credited: true, created: false });
    expect(results[3]).toEqual({ ...tom, created: false });
    // Only the answer was under test: no credit transfer was made, so the mark goes before the audit.
    await h.db.query('UPDATE claims SET credited_at = NULL WHERE id = $1', [second.claimId]);
    const { rows } = await h.db.query<{ remaining_count: number }>(
      'SELECT remaining_count FROM packets WHERE id = $1',
      [packetId],
    );
    expect(rows[0]?.remaining_count).toBe(1);
    // Past the expiry by Postgres' clock: the earlier openers still get their claims, the new one nothing.
    await expireInPostgres(packetId);
    const late = await openShares(h.db, packetId, ['rita', 'ulla']);
    expect(late[0]).toEqual({ ...first, created: false });
    expect(late[1]).toMatchObject({ code: ErrorCode.PacketExpired });
  });

  test('concurrent opens of one packet through the API ride in shared statements, each opener answered', async () => {
    const count = 30;
    const packetId = await sent('burstsender', { type: 'random', amountFen: 3_000, count });
    const openers = Array.from({ length: count }, (_, i) => `burster${i}`);
    for (const userId of openers) expect((await call(app, 'grab', userId, packetId)).status).toBe(200);
    const before = counted.opens();
    const answers = await Promise.all(openers.map((userId) => call(app, 'open', userId, packetId)));
    expect(answers.map((res) => res.status)).toEqual(openers.map(() => 200));
    expect(new Set(answers.map((res) => res.body.claimId as string)).size).toBe(count);
    expect(answers.reduce((sum, res) => sum + (res.body.amountFen as number), 0)).toBe(3_000);
    expect(counted.opens() - before).toBeLessThan(count);
  });

  test("a batch failed by one opener's data is retried opener by opener; any other failure fails the batch", async () => {
    const packetId = await sent('batchfail', { type: 'random', amountFen: 300, count: 3 });
    // A NUL cannot be bound as text (SQLSTATE 22021): the whole statement fails for one opener's id.
    const results = await openShares(h.db, packetId, ['nulA', 'nul\u0000B', 'nulC']);
    expect(results[0]).toMatchObject({ created: true, userId: 'nulA' });
    expect(results[1]).toBeInstanceOf(Error);
    expect(results[2]).toMatchObject({ created: true, userId: 'nulC' });
    // A lost connection would fail every opener alike: it fails the batch, and no opener is retried.
    let queries = 0;
    const lost = {
      query: () => {
        queries += 1;
        return Promise.reject(Object.assign(new Error('Connection terminated'), { code: 'ECONNRESET' }));
      },
    } as unknown as typeof h.db;
    await expect(openShares(lost, packetId, ['lostA', 'lostB'])).rejects.toThrow('Connection terminated');
    expect(queries).toBe(1);
  });

  test('an open through a live hold confirms it once, also when the claim already existed (a lost confirm)', async () => {
    const packetId = await sent('confirmsender', { type: 'random', amountFen: 300, count: 3 });
    const { keys, client, scripts } = h.redis;
    expect((await call(app, 'grab', 'lostconfirm', packetId)).status).toBe(200);
    // The statement committed but its confirm never reached Redis: the claim exists, the hold is live.
    const claim = await openShare(h.db, packetId, 'lostconfirm');
    const remaining = await client.hget(keys.gate(packetId), 'remaining');
    const res = await call(app, 'open', 'lostconfirm', packetId);
    expect(res.status).toBe(200);
    expect(res.body.claimId).toBe(claim.claimId);
    // The confirm is not awaited by the answer; a later command on the same connection runs after it.
    await client.ping();
    expect(await client.sismember(keys.claimed(packetId), 'lostconfirm')).toBe(1);
    expect(await client.zscore(keys.holders(packetId), 'lostconfirm')).toBeNull();
    expect(await client.hget(keys.gate(packetId), 'remaining')).toBe(remaining);
    // A second confirm of the same claim takes nothing more out of the pool.
    const again = await scripts.confirmOpen(
      keys.gate(packetId),
      keys.holders(packetId),
      keys.claimed(packetId),
      'lostconfirm',
    );
    expect(again).toBe(2);
    expect(await client.hget(keys.gate(packetId), 'remaining')).toBe(remaining);
  });

  test('a repeat open, even a concurrent double tap, gets the same claim from the one statement', async () => {
    const packetId = await sent('tapsender', { type: 'random', amountFen: 500, count: 5 });
    const taps = await Promise.all([1, 2, 3, 4].map(() => openShare(h.db, packetId, 'tapper')));
    expect(new Set(taps.map((claim) => claim.claimId)).size).toBe(1);
    expect(taps.filter((claim) => claim.created)).toHaveLength(1);
  });

  test('the statement itself refuses the sender of a personal packet and a stranger to an audience (404), Redis up and down', async () => {
    const personal = await sent('pat', { type: 'personal', amountFen: 300, count: 1, recipientId: 'quin' });
    const group = await sent('rory', {
      type: 'random',
      amountFen: 300,
      count: 2,
      audience: ['rory', 'sam', 'tom'],
    });
    const refused: [string, string][] = [
      [personal, 'pat'],
      [group, 'rory'],
      [group, 'mallory'],
    ];
    for (const [packetId, userId] of refused) {
      await expect(openShare(h.db, packetId, userId)).rejects.toMatchObject({
        code: ErrorCode.PacketNotFound,
      });
      expect((await call(appWithoutRedis, 'open', userId, packetId)).status).toBe(404);
      // With Redis up, a gate that wrongly lets them hold a share (as if it were stale) still gets them
      // nowhere: the open reaches the statement, and the statement refuses.
      const { keys } = h.redis;
      await h.redis.client.sadd(keys.audience(packetId), userId);
      expect((await call(app, 'grab', userId, packetId)).status).toBe(200);
      const before = counted.opens();
      const res = await call(app, 'open', userId, packetId);
      expect(res.status).toBe(404);
      expect(res.body.code).toBe(ErrorCode.PacketNotFound);
      expect(counted.opens()).toBe(before + 1);
    }
    // The sender's wrongful hold took the personal packet's one share in the gate until it lapses; Postgres
    // still owes it to the recipient.
    expect((await call(appWithoutRedis, 'open', 'quin', personal)).body.amountFen).toBe(300);
    const { rows } = await h.db.query('SELECT user_id FROM claims WHERE packet_id = ANY($1)', [
      [personal, group],
    ]);
    expect(rows).toEqual([{ user_id: 'quin' }]);
  });

  test('an open after expires_at by the database clock is refused (410), Redis up and down', async () => {
    const packetId = await sent('tess', {
      type: 'random',
      amountFen: 400,
      count: 4,
      expiresInSeconds: 3_600,
    });
    expect((await call(app, 'grab', 'uma', packetId)).status).toBe(200);
    // Postgres' clock is past the expiry; the gate in Redis (and this host) still think an hour is left.
    await expireInPostgres(packetId);
    await expect(openShare(h.db, packetId, 'uma')).rejects.toMatchObject({ code: ErrorCode.PacketExpired });
    expect((await call(app, 'open', 'uma', packetId)).status).toBe(410);
    expect((await call(appWithoutRedis, 'open', 'vic', packetId)).status).toBe(410);
    const { rows } = await h.db.query('SELECT 1 FROM claims WHERE packet_id = $1', [packetId]);
    expect(rows).toHaveLength(0);
  });
});
