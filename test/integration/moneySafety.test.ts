/**
 * Issue 13's findings, each replayed against the production code on the real Postgres, Redis and Temporal:
 * a stale payment after a refusal, claims by people a packet is not for (Redis down, and Redis up with its
 * gate lost), an id handed out twice, expiry judged by a host clock, answers that disagree, and a send
 * without an Idempotency-Key.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import type { Express } from 'express';
import { createActivities } from '../../activities';
import { ErrorCode } from '../../domain/errors';
import { openShare } from '../../packets/store/openShare';
import type { RedisDeps } from '../../redis';
import type { PacketInput } from '../../saga';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, fund, packetResult } from '../support/packets';

describe('money safety', () => {
  let h: Harness;
  let app: Express;
  let appWithoutRedis: Express;
  let redisDown: RedisDeps;
  const tokens = new Map<string, string>();
  const auth = async (userId: string) => {
    if (!tokens.has(userId)) tokens.set(userId, await h.tokenFor(userId));
    return { Authorization: `Bearer ${tokens.get(userId)}` };
  };
  const send = async (userId: string, body: object, on = app) =>
    request(on)
      .post('/v1/packets')
      .set(await auth(userId))
      .set('Idempotency-Key', `send-${randomUUID()}`)
      .send(body);
  const grab = async (userId: string, packetId: string, on = app) =>
    request(on)
      .post(`/v1/packets/${packetId}/grab`)
      .set(await auth(userId));
  const open = async (userId: string, packetId: string, on = app) =>
    request(on)
      .post(`/v1/packets/${packetId}/open`)
      .set(await auth(userId));
  const sent = async (userId: string, body: object): Promise<string> => {
    const res = await send(userId, body);
    expect(res.status).toBe(201);
    return res.body.packetId as string;
  };
  const claimsOf = async (packetId: string) =>
    (
      await h.db.query<{ user_id: string }>('SELECT user_id FROM claims WHERE packet_id = $1 ORDER BY seq', [
        packetId,
      ])
    ).rows.map((row) => row.user_id);
  const dropGate = async (packetId: string) => {
    const { keys } = h.redis;
    await h.redis.client.del(
      keys.gate(packetId),
      keys.holders(packetId),
      keys.claimed(packetId),
      keys.audience(packetId),
    );
  };

  beforeAll(async () => {
    h = await createHarness({ RATE_LIMIT_PACKET_DEGRADED_PER_SECOND: '1000' });
    await h.startWorker();
    app = h.app();
    redisDown = await h.unreachableRedis();
    appWithoutRedis = h.app({ redis: redisDown });
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  function inputFor(senderId: string, overrides: Partial<PacketInput> = {}): PacketInput {
    return {
      packetId: `20261130t1r${String(Date.now()).slice(-11)}${randomUUID().slice(0, 4)}`,
      senderId,
      type: 'random',
      totalFen: 500,
      count: 2,
      greeting: null,
      recipientId: null,
      audience: null,
      expiresAtMs: Date.now() + 3_600_000,
      fingerprint: randomUUID(),
      creditStuckAfterMs: 60_000,
      ...overrides,
    };
  }

  describe('finding 1: a stale payment attempt cannot pay after the refusal', () => {
    test('an attempt that resumes after another was refused, with the sender funded since, pays nothing', async () => {
      const activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
      const payPacket = (input: PacketInput) => activities.payPacket(input);
      const input = inputFor('stale-sender');
      // Attempt 2 runs first: the wallet is empty, so the payment is refused (the send answers 402).
      await expect(payPacket(input)).rejects.toMatchObject({ type: ErrorCode.InsufficientFunds });
      await fund(h, 'stale-sender', 1_000);
      // Attempt 1 resumes from its stall: it must obey the refusal, not debit the wallet.
      await expect(payPacket(input)).rejects.toMatchObject({
        type: ErrorCode.InsufficientFunds,
        nonRetryable: true,
      });
      expect(await balanceOf(h, 'stale-sender')).toBe(1_000);
      const { rows } = await h.db.query('SELECT 1 FROM packets WHERE id = $1', [input.packetId]);
      expect(rows).toHaveLength(0);
    });

    test('concurrent attempts of one payment debit the sender exactly once', async () => {
      const activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
      const payPacket = (input: PacketInput) => activities.payPacket(input);
      // Funded for two packets, so a second debit would succeed and show, not fail on an empty wallet.
      await fund(h, 'twin-sender', 1_000);
      const input = inputFor('twin-sender');
      const attempts = await Promise.allSettled(Array.from({ length: 8 }, () => payPacket(input)));
      expect(attempts.every((attempt) => attempt.status === 'fulfilled')).toBe(true);
      expect(await balanceOf(h, 'twin-sender')).toBe(500);
    });
  });

  describe('finding 4: a packet id handed out twice', () => {
    test('another send that reaches a paid packet id is refused as a conflict, not answered as paid', async () => {
      const activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
      const payPacket = (input: PacketInput) => activities.payPacket(input);
      await fund(h, 'dup-sender', 1_000);
      const first = inputFor('dup-sender');
      await payPacket(first);
      // Same sender, same amount and count, another send: the old check compared only those fields.
      const second = { ...first, fingerprint: randomUUID(), type: 'fixed' as const };
      await expect(payPacket(second)).rejects.toMatchObject({ type: ErrorCode.PacketIdConflict });
      expect(await balanceOf(h, 'dup-sender')).toBe(500);
    });

    test('a send whose key was given a paid packet id answers 503 and pays nothing twice', async () => {
      await fund(h, 'dup-http', 1_000);
      const body = { type: 'random', amountFen: 400, count: 2 };
      const firstKey = `first-${randomUUID()}`;
      const first = await request(app)
        .post('/v1/packets')
        .set(await auth('dup-http'))
        .set('Idempotency-Key', firstKey)
        .send(body);
      expect(first.status).toBe(201);
      // The id allocator rewound and the next key of this sender was handed the same packet id (the first
      // key's row is moved aside only because packet_requests.packet_id is unique).
      const secondKey = `second-${randomUUID()}`;
      await h.db.query('UPDATE packet_requests SET packet_id = $2 WHERE idempotency_key = $1', [
        firstKey,
        `moved-${first.body.packetId}`,
      ]);
      await h.db.query(
        `INSERT INTO packet_requests (sender_id, idempotency_key, packet_id) VALUES ('dup-http', $1, $2)`,
        [secondKey, first.body.packetId],
      );
      const second = await request(app)
        .post('/v1/packets')
        .set(await auth('dup-http'))
        .set('Idempotency-Key', secondKey)
        .send(body);
      expect(second.status).toBe(503);
      expect(second.body.code).toBe(ErrorCode.PaymentPending);
      expect(await balanceOf(h, 'dup-http')).toBe(600);
    });
  });

  describe('finding 2: Postgres refuses a claim by anyone the packet is not for', () => {
    test('with Redis down, the sender of a personal packet can neither grab nor open it', async () => {
      await fund(h, 'alice', 800);
      const packetId = await sent('alice', {
        type: 'personal',
        amountFen: 800,
        count: 1,
        recipientId: 'bob',
      });
      expect((await grab('alice', packetId, appWithoutRedis)).status).toBe(404);
      expect((await open('alice', packetId, appWithoutRedis)).body.code).toBe(ErrorCode.PacketNotFound);
      const bob = await open('bob', packetId, appWithoutRedis);
      expect(bob.status).toBe(200);
      expect(bob.body.amountFen).toBe(800);
      expect(await claimsOf(packetId)).toEqual(['bob']);
    });

    test('with Redis down, neither a stranger nor the sender claims an audience packet', async () => {
      await fund(h, 'carol', 600);
      const packetId = await sent('carol', {
        type: 'random',
        amountFen: 600,
        count: 2,
        audience: ['carol', 'dave', 'erin'],
      });
      for (const userId of ['carol', 'mallory']) {
        expect((await grab(userId, packetId, appWithoutRedis)).status).toBe(404);
        expect((await open(userId, packetId, appWithoutRedis)).status).toBe(404);
      }
      expect((await open('dave', packetId, appWithoutRedis)).status).toBe(200);
      expect(await claimsOf(packetId)).toEqual(['dave']);
    });

    test('with Redis up, the sender listed in their own audience is refused by the gate', async () => {
      await fund(h, 'frank', 600);
      const packetId = await sent('frank', {
        type: 'random',
        amountFen: 600,
        count: 1,
        audience: ['frank', 'fern'],
      });
      expect((await grab('frank', packetId)).status).toBe(404);
      expect((await grab('stranger', packetId)).status).toBe(404);
      expect(await claimsOf(packetId)).toEqual([]);
    });

    test('the open statement itself refuses the sender of a personal packet', async () => {
      await fund(h, 'gina', 300);
      const packetId = await sent('gina', { type: 'personal', amountFen: 300, count: 1, recipientId: 'hal' });
      await expect(openShare(h.db, packetId, 'gina')).rejects.toMatchObject({
        code: ErrorCode.PacketNotFound,
      });
      await expect(openShare(h.db, packetId, 'hal')).resolves.toMatchObject({ amountFen: 300 });
    });
  });

  describe('finding 3: a lost gate with Redis up lets nobody skip the hold or membership checks', () => {
    test('concurrent opens by the sender of a personal packet whose gate was lost all fail', async () => {
      await fund(h, 'ivan', 800);
      const packetId = await sent('ivan', {
        type: 'personal',
        amountFen: 800,
        count: 1,
        recipientId: 'judy',
      });
      await dropGate(packetId);
      const answers = await Promise.all(Array.from({ length: 10 }, () => open('ivan', packetId)));
      expect(answers.map((answer) => answer.status)).toEqual(Array(10).fill(404));
      expect(await claimsOf(packetId)).toEqual([]);
    });

    test('concurrent opens without a grab on a packet whose gate was lost get no share', async () => {
      await fund(h, 'kate', 300);
      const packetId = await sent('kate', { type: 'random', amountFen: 300, count: 3 });
      await dropGate(packetId);
      const users = Array.from({ length: 6 }, (_, i) => `nograb${i}`);
      const answers = await Promise.all(
        Array.from({ length: 30 }, (_, i) => open(users[i % users.length] as string, packetId)),
      );
      expect(answers.filter((answer) => answer.status === 200)).toHaveLength(0);
      const codes = answers.map((answer) => (answer.body as { code?: string }).code);
      expect(new Set(codes)).toEqual(new Set([ErrorCode.NoHold]));
      expect(await claimsOf(packetId)).toEqual([]);
      // The re-armed gate still grants exactly the three shares.
      const grabs = await Promise.all(users.map((userId) => grab(userId, packetId)));
      expect(grabs.filter((answer) => answer.status === 200)).toHaveLength(3);
    });
  });

  describe('finding 5: Postgres clock decides expiry', () => {
    afterEach(() => {
      jest.useRealTimers();
    });

    test('an open after expires_at by the database clock is refused while the API host clock is behind', async () => {
      await fund(h, 'lena', 400);
      const packetId = await sent('lena', {
        type: 'random',
        amountFen: 400,
        count: 2,
        expiresInSeconds: 3_600,
      });
      expect((await grab('mo', packetId)).status).toBe(200);
      // The database says the packet has expired; the gate and the host do not know yet.
      await h.db.query(`UPDATE packets SET expires_at = now() - interval '1 second' WHERE id = $1`, [
        packetId,
      ]);
      jest.useFakeTimers({
        now: Date.now() - 3_600_000,
        doNotFake: [
          'nextTick',
          'setImmediate',
          'clearImmediate',
          'setTimeout',
          'clearTimeout',
          'setInterval',
          'clearInterval',
          'queueMicrotask',
          'hrtime',
          'performance',
        ],
      });
      const answer = await open('mo', packetId);
      jest.useRealTimers();
      expect(answer.status).toBe(410);
      expect(answer.body.code).toBe(ErrorCode.PacketExpired);
      expect(await claimsOf(packetId)).toEqual([]);
      // Settlement still refunds everything (the workflow's timer is an hour away; settle it by hand).
      const activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
      await expect(activities.settlePacket(packetId)).resolves.toMatchObject({ refundFen: 400 });
      await h.temporal.client.workflow.getHandle(`packet-${packetId}`).terminate('settled by the test');
    });
  });

  describe('finding 10: one answer on every path', () => {
    test('a finished, fully claimed packet answers exhausted to grab and open, with Redis up and down', async () => {
      await fund(h, 'nina', 200);
      const packetId = await sent('nina', { type: 'random', amountFen: 200, count: 1 });
      expect((await grab('oscar', packetId)).status).toBe(200);
      expect((await open('oscar', packetId)).status).toBe(200);
      await packetResult(h, packetId);
      for (const on of [app, appWithoutRedis]) {
        for (const act of [grab, open]) {
          const answer = await act('pat', packetId, on);
          expect([answer.status, answer.body.code]).toEqual([409, ErrorCode.PacketExhausted]);
        }
      }
    });

    test('a packet past its expiry but not yet settled answers expired to grab and open', async () => {
      await fund(h, 'tess', 200);
      const packetId = await sent('tess', {
        type: 'random',
        amountFen: 200,
        count: 2,
        expiresInSeconds: 3_600,
      });
      // Time has passed the expiry (beyond the gate's grace) and the settlement timer has not fired yet.
      const expiredAtMs = Date.now() - 10_000;
      await h.db.query('UPDATE packets SET expires_at = to_timestamp($2::float8 / 1000) WHERE id = $1', [
        packetId,
        expiredAtMs,
      ]);
      await h.redis.client.hset(h.redis.keys.gate(packetId), 'expiresAtMs', expiredAtMs);
      for (const on of [app, appWithoutRedis]) {
        for (const act of [grab, open]) {
          const answer = await act('uma', packetId, on);
          expect([answer.status, answer.body.code]).toEqual([410, ErrorCode.PacketExpired]);
        }
      }
      const activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
      await expect(activities.settlePacket(packetId)).resolves.toMatchObject({ refundFen: 200 });
      await h.temporal.client.workflow.getHandle(`packet-${packetId}`).terminate('settled by the test');
    });

    test('an expired packet answers expired to grab and open, with Redis up and down', async () => {
      await fund(h, 'quinn', 200);
      const packetId = await sent('quinn', { type: 'random', amountFen: 200, count: 2, expiresInSeconds: 1 });
      await packetResult(h, packetId);
      for (const on of [app, appWithoutRedis]) {
        for (const act of [grab, open]) {
          const answer = await act('rita', packetId, on);
          expect([answer.status, answer.body.code]).toEqual([410, ErrorCode.PacketExpired]);
        }
      }
    });
  });

  describe('finding 11: a send needs an Idempotency-Key', () => {
    test('POST /v1/packets without the key is refused before anything moves', async () => {
      await fund(h, 'sam', 500);
      const before = await h.ledgerTotals();
      const answer = await request(app)
        .post('/v1/packets')
        .set(await auth('sam'))
        .send({ type: 'random', amountFen: 500, count: 2 });
      expect(answer.status).toBe(400);
      expect(answer.body.code).toBe('idempotency_key_required');
      expect(await h.ledgerTotals()).toEqual(before);
    });
  });
});
