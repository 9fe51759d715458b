/**
 * RATE_LIMIT_CLIENT_COUNTERS=process: the IP and user counters are each API process's own, with the same
 * answers as when they are the fleet's in Redis (429 with Retry-After, and a refused grab takes no hold),
 * while the packet's counter stays in the gate call. Runs on one Redis and, with REDPACKET_TEST_REDIS=cluster,
 * on a Redis Cluster.
 */
import request from 'supertest';
import type { Express } from 'express';
import type { Config } from '../../config';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { sendThroughApi } from '../support/packets';

const LIMIT = 3;
const BURST = LIMIT + 4;

describe('client rate-limit counters kept in process', () => {
  let h: Harness;
  let seq = 0;

  beforeAll(async () => {
    h = await createHarness({ RATE_LIMIT_CLIENT_COUNTERS: 'process' });
    await h.startWorker();
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  function appLimiting(scope: 'ip' | 'user' | 'packet'): Express {
    const rateLimit: Config['rateLimit'] = {
      ...h.config.rateLimit,
      ipPerSecond: scope === 'ip' ? LIMIT : 1_000,
      userPerSecond: scope === 'user' ? LIMIT : 1_000,
      packetPerSecond: scope === 'packet' ? LIMIT : 1_000,
    };
    return h.app({ config: { ...h.config, rateLimit, http: { ...h.config.http, trustProxyHops: 1 } } });
  }

  const freshPacket = () => sendThroughApi(h, `cc_sender${++seq}`);

  test.each(['ip', 'user', 'packet'] as const)(
    'a grab burst over the %s limit: 429 with Retry-After, no hold for a refused grab',
    async (scope) => {
      const app = appLimiting(scope);
      const ip = `198.51.100.${++seq % 250}`;
      const user = `cc_${scope}${seq}`;
      const packets =
        scope === 'user'
          ? await Promise.all(Array.from({ length: BURST }, freshPacket))
          : [await freshPacket()];
      const answers = await Promise.all(
        Array.from({ length: BURST }, async (_, i) =>
          request(app)
            .post(`/v1/packets/${packets[i % packets.length]}/grab`)
            .set('X-Forwarded-For', scope === 'ip' ? ip : `203.0.113.${i}`)
            .set('Authorization', `Bearer ${await h.tokenFor(scope === 'user' ? user : `${user}_${i}`)}`),
        ),
      );
      const limited = answers.filter((res) => res.status === 429);
      const granted = answers.filter((res) => res.status === 200);
      expect(granted).toHaveLength(LIMIT);
      expect(limited).toHaveLength(BURST - LIMIT);
      for (const res of limited) {
        expect(res.body).toMatchObject({ code: 'rate_limited', scope });
        expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      let holds = 0;
      for (const packetId of packets) holds += await h.redis.client.zcard(h.redis.keys.holders(packetId));
      expect(holds).toBe(LIMIT);
      // The client counters never reached Redis; the packet's is the fleet's, in the gate's slot.
      expect(await h.redis.client.exists(h.redis.keys.limitCounter('ip', ip))).toBe(0);
      expect(await h.redis.client.exists(h.redis.keys.limitCounter('user', user))).toBe(0);
      expect(await h.redis.client.exists(h.redis.keys.limitCounter('packet', packets[0] as string))).toBe(1);
    },
  );

  test('other routes count the user in process too, and their own limit in Redis', async () => {
    const app = appLimiting('user');
    const token = await h.tokenFor('cc_balance');
    const answers = await Promise.all(
      Array.from({ length: BURST }, () =>
        request(app).get('/v1/me/balance').set('Authorization', `Bearer ${token}`),
      ),
    );
    expect(answers.filter((res) => res.status === 200)).toHaveLength(LIMIT);
    expect(answers.filter((res) => res.status === 429 && res.body.scope === 'user')).toHaveLength(
      BURST - LIMIT,
    );
    expect(await h.redis.client.exists(h.redis.keys.limitCounter('user', 'cc_balance'))).toBe(0);
  });
});
