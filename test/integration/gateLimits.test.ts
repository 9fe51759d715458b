/**
 * The grab and open routes check their rate limits (IP, user, packet) in the gate's own script, one Redis
 * round trip (on a Redis Cluster the IP and user counters are a call each first, their slots being another
 * node's); with Redis down the same limits hold in memory. Either way a refused request answers 429 with
 * Retry-After, and a refused grab takes no hold.
 */
import request from 'supertest';
import type { Express } from 'express';
import type { Config } from '../../config';
import type { RedisDeps } from '../../redis';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { sendThroughApi } from '../support/packets';

const LIMIT = 3;
const BURST = LIMIT + 4;

type Scope = 'ip' | 'user' | 'packet';

describe('rate limits in the gate', () => {
  let h: Harness;
  let redisDown: RedisDeps;
  let packetSeq = 0;

  beforeAll(async () => {
    h = await createHarness({ RATE_LIMIT_PACKET_DEGRADED_PER_SECOND: '1000' });
    await h.startWorker();
    redisDown = await h.unreachableRedis();
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  /** An app whose one `scope` limit is LIMIT a second, behind one trusted proxy (X-Forwarded-For). */
  function appLimiting(scope: Scope, redis?: RedisDeps): Express {
    const rateLimit: Config['rateLimit'] = {
      ...h.config.rateLimit,
      ipPerSecond: scope === 'ip' ? LIMIT : 1_000,
      userPerSecond: scope === 'user' ? LIMIT : 1_000,
      packetPerSecond: scope === 'packet' ? LIMIT : 1_000,
    };
    const config = { ...h.config, rateLimit, http: { ...h.config.http, trustProxyHops: 1 } };
    return h.app({ config, ...(redis ? { redis } : {}) });
  }

  const freshPacket = () => sendThroughApi(h, `gl_sender${++packetSeq}`);

  /**
   * BURST requests at once that share only the limited key: one IP for `ip`, one user for `user` (grabbing
   * a different packet each time), one packet for `packet`; everything else differs per request.
   */
  async function burst(app: Express, scope: Scope, action: 'grab' | 'open', packetId: string, tag: string) {
    const packets = scope === 'user' ? await Promise.all(Array.from({ length: BURST }, freshPacket)) : [];
    return Promise.all(
      Array.from({ length: BURST }, async (_, i) =>
        request(app)
          .post(`/v1/packets/${packets[i] ?? packetId}/${action}`)
          .set('X-Forwarded-For', scope === 'ip' ? `198.51.100.${packetSeq % 250}` : `203.0.113.${i}`)
          .set(
            'Authorization',
            `Bearer ${await h.tokenFor(scope === 'user' ? `gl_${tag}` : `gl_${tag}${i}`)}`,
          ),
      ),
    );
  }

  const holdersOf = (packetId: string) => h.redis.client.zcard(h.redis.keys.holders(packetId));

  describe.each([
    ['Redis up', false],
    ['Redis down', true],
  ])('%s', (_label, down) => {
    test.each(['ip', 'user', 'packet'] as const)(
      'a grab over the %s limit answers 429 with Retry-After and takes no hold',
      async (scope) => {
        const packetId = await freshPacket();
        const app = appLimiting(scope, down ? redisDown : undefined);
        const answers = await burst(app, scope, 'grab', packetId, `${scope}${down ? 'd' : 'u'}`);
        const limited = answers.filter((res) => res.status === 429);
        expect(limited.length).toBeGreaterThan(0);
        for (const res of limited) {
          expect(res.body).toMatchObject({ code: 'rate_limited', scope });
          expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
        }
        const granted = answers.filter((res) => res.status === 200);
        expect(granted.length + limited.length).toBe(BURST);
        if (!down && scope !== 'user') expect(await holdersOf(packetId)).toBe(granted.length);
        if (!down) {
          // The counters are the fleet's, in Redis; a packet's shares its gate's hash tag.
          const key =
            scope === 'ip' ? `198.51.100.${packetSeq % 250}` : scope === 'user' ? `gl_${scope}u` : packetId;
          expect(await h.redis.client.exists(h.redis.keys.limitCounter(scope, key))).toBe(1);
        }
      },
    );

    test('an open over the packet limit answers 429 with Retry-After', async () => {
      const packetId = await freshPacket();
      const answers = await burst(
        appLimiting('packet', down ? redisDown : undefined),
        'packet',
        'open',
        packetId,
        `op${down ? 'd' : 'u'}`,
      );
      const limited = answers.filter((res) => res.status === 429);
      expect(limited.length).toBeGreaterThan(0);
      for (const res of limited) expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    });
  });

  test('a limited grab is one Redis call on one Redis; on a Cluster the IP and user counters are two more', async () => {
    const packetId = await freshPacket();
    const client = h.redis.client as unknown as Record<string, (...args: unknown[]) => unknown>;
    const calls = (['consumeLimit', 'grabShare', 'grabShareAnyKeys'] as const).map((name) =>
      jest.spyOn(client, name),
    );
    try {
      const res = await request(appLimiting('packet'))
        .post(`/v1/packets/${packetId}/grab`)
        .set('Authorization', `Bearer ${await h.tokenFor('gl_roundtrips')}`);
      expect(res.status).toBe(200);
      const cluster = h.config.redis.cluster !== undefined;
      // Calls on the client itself: ioredis' auto-pipelining calls the command once more on its pipeline.
      const onClient = (spy: (typeof calls)[number]) =>
        spy.mock.contexts.filter((context) => context === client).length;
      expect(calls.map(onClient)).toEqual(cluster ? [2, 1, 0] : [0, 0, 1]);
    } finally {
      for (const spy of calls) spy.mockRestore();
    }
  });

  test('a 429 from the gate is not stored as the answer to an Idempotency-Key', async () => {
    const packetId = await freshPacket();
    const app = appLimiting('packet');
    const token = await h.tokenFor('gl_keyed');
    await burst(app, 'packet', 'grab', packetId, 'gl_fill');
    const keyed = () =>
      request(app)
        .post(`/v1/packets/${packetId}/grab`)
        .set('Authorization', `Bearer ${token}`)
        .set('Idempotency-Key', 'grab-once');
    expect((await keyed()).status).toBe(429);
    await h.redis.client.del(h.redis.keys.limitCounter('packet', packetId));
    expect((await keyed()).status).toBe(200);
  });
});
