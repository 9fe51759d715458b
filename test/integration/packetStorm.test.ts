import { randomUUID } from 'node:crypto';
import { createRedis } from '../../redis';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetResult } from '../support/packets';
import { expectAuditClean } from '../support/audit';

/** Runs `tasks` with at most `concurrency` in flight. */
async function pool<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array<T>(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

interface Outcome {
  grab: number;
  open?: number;
}

describe('grab-then-open storms', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  async function serve(redisOverride?: ReturnType<typeof createRedis>) {
    const { app, ctx } = h.appWithContext(redisOverride ? { redis: redisOverride } : {});
    const { url, server } = await h.listen(app);
    return { url, server, ctx };
  }

  async function tokens(prefix: string, n: number): Promise<string[]> {
    return Promise.all(Array.from({ length: n }, (_, i) => h.tokenFor(`${prefix}${i}`)));
  }

  async function sendPacket(url: string, senderId: string, body: object): Promise<string> {
    await fund(h, senderId, 20_000);
    const res = await fetch(`${url}/v1/packets`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await h.tokenFor(senderId)}`,
        'content-type': 'application/json',
        'idempotency-key': `send-${randomUUID()}`,
      },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(201);
    return ((await res.json()) as { packetId: string }).packetId;
  }

  async function grabThenOpen(url: string, packetId: string, token: string): Promise<Outcome> {
    const headers = { authorization: `Bearer ${token}` };
    const grab = await fetch(`${url}/v1/packets/${packetId}/grab`, { method: 'POST', headers });
    await grab.arrayBuffer();
    if (grab.status !== 200) return { grab: grab.status };
    const open = await fetch(`${url}/v1/packets/${packetId}/open`, { method: 'POST', headers });
    await open.arrayBuffer();
    return { grab: grab.status, open: open.status };
  }

  async function claimsOf(packetId: string) {
    const { rows } = await h.db.query<{ user_id: string; amount_fen: number }>(
      'SELECT user_id, amount_fen FROM claims WHERE packet_id = $1',
      [packetId],
    );
    return rows;
  }

  test('2,000 concurrent clients on one 100-share packet: exactly 100 claims, no user twice, shares sum to the total, at most 100 open transactions', async () => {
    const { url, server, ctx } = await serve();
    try {
      const packetId = await sendPacket(url, 'storm-sender', {
        type: 'random',
        amountFen: 20_000,
        count: 100,
      });
      const clientTokens = await tokens('storm', 2_000);
      const outcomes = await pool(2_000, 200, (i) => grabThenOpen(url, packetId, clientTokens[i]!));

      const claims = await claimsOf(packetId);
      expect(claims).toHaveLength(100);
      expect(new Set(claims.map((claim) => claim.user_id)).size).toBe(100);
      expect(claims.reduce((sum, claim) => sum + claim.amount_fen, 0)).toBe(20_000);
      expect(outcomes.filter((o) => o.open === 200)).toHaveLength(100);
      expect(outcomes.filter((o) => o.grab === 200)).toHaveLength(100);
      expect(outcomes.every((o) => o.grab === 200 || o.grab === 409)).toBe(true);
      expect(ctx.packets.openTransactions.count).toBeLessThanOrEqual(100);
      await ctx.packets.signaler.drain();
      expect(await packetResult(h, packetId)).toMatchObject({ creditedCount: 100, creditedFen: 20_000 });
    } finally {
      server.close();
    }
  }, 120_000);

  test('with Redis gone mid-storm, grabs and opens fall back to Postgres and nothing is over-claimed', async () => {
    const redis = createRedis(h.config);
    const { url, server, ctx } = await serve(redis);
    try {
      const packetId = await sendPacket(url, 'outage-sender', {
        type: 'random',
        amountFen: 10_000,
        count: 100,
      });
      const clientTokens = await tokens('outage', 1_000);
      const outcomes = await pool(1_000, 100, async (i) => {
        // A tenth of the way in, this API process loses Redis.
        if (i === 100) redis.client.disconnect();
        return grabThenOpen(url, packetId, clientTokens[i]!);
      });
      expect(ctx.redisDown()).toBe(true);
      expect(outcomes.some((o) => o.open === 200)).toBe(true);
      expect(outcomes.every((o) => o.grab < 500 && (o.open ?? 200) < 500)).toBe(true);
      const claims = await claimsOf(packetId);
      expect(claims.length).toBeLessThanOrEqual(100);
      expect(new Set(claims.map((claim) => claim.user_id)).size).toBe(claims.length);
      expect(claims.reduce((sum, claim) => sum + claim.amount_fen, 0)).toBeLessThanOrEqual(10_000);
      expect(claims.length).toBe(outcomes.filter((o) => o.open === 200).length);
      await ctx.packets.signaler.drain();
    } finally {
      server.close();
      await redis.close();
    }
  }, 120_000);

  test('opens racing expiry either commit and are credited or are refused, and the refund is the total minus the claims', async () => {
    const { url, server, ctx } = await serve();
    try {
      const packetId = await sendPacket(url, 'race-sender', {
        type: 'random',
        amountFen: 5_000,
        count: 100,
        expiresInSeconds: 1,
      });
      const clientTokens = await tokens('race', 400);
      // Stagger the crowd across the expiry instant.
      const outcomes = await pool(400, 20, async (i) => {
        await new Promise((r) => setTimeout(r, i * 4));
        return grabThenOpen(url, packetId, clientTokens[i]!);
      });
      expect(
        outcomes.every(
          (o) => [200, 409, 410].includes(o.grab) && [undefined, 200, 409, 410].includes(o.open),
        ),
      ).toBe(true);
      await ctx.packets.signaler.drain();
      const result = await packetResult(h, packetId);
      const claims = await claimsOf(packetId);
      const claimedFen = claims.reduce((sum, claim) => sum + claim.amount_fen, 0);
      expect(result).toMatchObject({ creditedCount: claims.length, refundFen: 5_000 - claimedFen });
      expect(claims.length).toBe(outcomes.filter((o) => o.open === 200).length);
    } finally {
      server.close();
    }
  }, 120_000);
});
