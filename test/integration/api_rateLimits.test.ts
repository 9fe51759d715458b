import { Router } from 'express';
import request from 'supertest';
import { z } from 'zod';
import type { AppContext } from '../../api/context';
import { defineRoute } from '../../api/pipeline';
import { routeFactories } from '../../api/routes';
import { ResourceIdSchema } from '../../api/validation';
import { createHarness, type Harness } from '../support/harness';

const USER_LIMIT = 5;
const PACKET_LIMIT = 3;
const SEND_LIMIT = 2;

/** Stand-ins for grab (per-packet limit) and send (global limit) until the packet routes exist. */
function limitedRoutes(ctx: AppContext): Router {
  const router = Router();
  const ok = () => Promise.resolve({ body: { ok: true } });
  defineRoute(ctx, router, {
    method: 'post',
    path: '/test/packets/:id/poke',
    summary: 'poke',
    tags: ['test'],
    auth: 'user',
    params: z.strictObject({ id: ResourceIdSchema }),
    rateLimits: ['packet'],
    response: { status: 200, description: 'ok' },
    handler: ok,
  });
  defineRoute(ctx, router, {
    method: 'post',
    path: '/test/send',
    summary: 'send',
    tags: ['test'],
    auth: 'user',
    rateLimits: ['send'],
    response: { status: 200, description: 'ok' },
    handler: ok,
  });
  return router;
}

describe('rate limits', () => {
  let h: Harness;
  let app: ReturnType<Harness['app']>;

  beforeAll(async () => {
    h = await createHarness({
      RATE_LIMIT_USER_PER_SECOND: String(USER_LIMIT),
      RATE_LIMIT_PACKET_PER_SECOND: String(PACKET_LIMIT),
      RATE_LIMIT_SEND_PER_SECOND: String(SEND_LIMIT),
    });
    app = h.app({}, { routes: [...routeFactories, limitedRoutes] });
    // createHarness waits for the Redis client: until it is ready, limits are counted in this process
    // (api/rateLimits.ts), and a burst that straddled the connect would split its count (seen in CI).
  });
  afterAll(async () => {
    await h.close();
  });

  /**
   * All at once, so every request falls in the window the first one opened: one after another, a slow start
   * on a loaded CI machine (the file's first request opens connections) can outlast the 1 s window, and the
   * burst then never reaches the limit.
   */
  async function burst(
    count: number,
    send: () => PromiseLike<request.Response>,
  ): Promise<request.Response[]> {
    return Promise.all(Array.from({ length: count }, () => send()));
  }

  /** `allowed` answers 200, the rest 429 (which ones is the order the limiter saw them, not the array's). */
  function expectLimited(answers: request.Response[], allowed: number, scope: string): void {
    expect(answers.filter((res) => res.status === 200)).toHaveLength(allowed);
    const limited = answers.filter((res) => res.status === 429);
    expect(limited).toHaveLength(answers.length - allowed);
    for (const res of limited) {
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(res.body).toMatchObject({ code: 'rate_limited', scope });
      expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
  }

  test('a user over the per-user limit gets 429 with Retry-After, and other users do not', async () => {
    const token = await h.tokenFor('rl_busy');
    const answers = await burst(USER_LIMIT + 3, () =>
      request(app).get('/v1/me/balance').set('Authorization', `Bearer ${token}`),
    );
    expectLimited(answers, USER_LIMIT, 'user');
    await request(app)
      .get('/v1/me/balance')
      .set('Authorization', `Bearer ${await h.tokenFor('rl_calm')}`)
      .expect(200);
    // The counters live in Redis, so every replica shares them.
    expect(await h.redis.client.exists(`${h.redis.keys.rateLimit('user')}:rl_busy`)).toBe(1);
  });

  test('one hot packet is limited without touching another packet', async () => {
    const poke = async (packetId: string, userId: string) =>
      request(app)
        .post(`/test/packets/${packetId}/poke`)
        .set('Authorization', `Bearer ${await h.tokenFor(userId)}`);
    let fan = 0;
    const answers = await burst(PACKET_LIMIT + 2, () => poke('hot', `rl_fan${fan++}`));
    expectLimited(answers, PACKET_LIMIT, 'packet');
    expect((await poke('cold', 'rl_fan0')).status).toBe(200);
  });

  test('sending is limited globally, across users', async () => {
    const tokens = await Promise.all(
      Array.from({ length: SEND_LIMIT + 2 }, (_, i) => h.tokenFor(`rl_sender${i}`)),
    );
    let sender = 0;
    const answers = await burst(SEND_LIMIT + 2, () =>
      request(app).post('/test/send').set('Authorization', `Bearer ${tokens[sender++]}`),
    );
    expectLimited(answers, SEND_LIMIT, 'send');
  });

  test('the per-IP limit applies before authentication, so token guessing is throttled too', async () => {
    // Behind one trusted proxy the client address is the X-Forwarded-For hop, here one no other test uses.
    const config = { ...h.config, http: { ...h.config.http, trustProxyHops: 1 } };
    const strict = h.app({ config: { ...config, rateLimit: { ...config.rateLimit, ipPerSecond: 3 } } });
    const guess = (ip: string) =>
      request(strict).get('/v1/me/balance').set('X-Forwarded-For', ip).set('Authorization', 'Bearer guess');
    const answers = await burst(6, () => guess('203.0.113.7'));
    expect(answers.filter((res) => res.status === 401)).toHaveLength(3);
    expect(answers.filter((res) => res.status === 429 && res.body.scope === 'ip')).toHaveLength(3);
    expect((await guess('203.0.113.8')).status).toBe(401);
  });

  test('with Redis unreachable, limits fall back to memory and the API keeps answering', async () => {
    const down = h.app({ redis: await h.unreachableRedis() });
    const token = await h.tokenFor('rl_degraded');
    const answers = await burst(USER_LIMIT + 3, () =>
      request(down).get('/v1/me/balance').set('Authorization', `Bearer ${token}`),
    );
    expectLimited(answers, USER_LIMIT, 'user');
    expect(await h.redis.client.exists(`${h.redis.keys.rateLimit('user')}:rl_degraded`)).toBe(0);

    const ready = await request(down).get('/readyz').expect(503);
    expect(ready.body).toMatchObject({ down: ['redis'], degraded: ['redis'] });
    const metrics = await request(down).get('/metrics').expect(200);
    expect(metrics.text).toContain('redpacket_degraded{dependency="redis"} 1');
    expect(metrics.text).toMatch(/redpacket_rate_limited_total\{scope="user"\} [1-9]/);
  });

  test('limits can be switched off', async () => {
    const open = h.app({ config: { ...h.config, rateLimit: { ...h.config.rateLimit, enabled: false } } });
    const token = await h.tokenFor('rl_unlimited');
    const answers = await burst(USER_LIMIT + 3, () =>
      request(open).get('/v1/me/balance').set('Authorization', `Bearer ${token}`),
    );
    expect(answers.every((res) => res.status === 200)).toBe(true);
  });
});
