/**
 * Finding 8 of issue 13: a packet id was its time of day, so a stranger could count through a window of ids
 * and claim from a group packet. The public id now ends in a random suffix; these tests show that the order
 * number alone no longer finds a packet, on the Redis path and the Postgres (degraded) path alike.
 */
import request from 'supertest';
import type { Express } from 'express';
import { allocatePacketId, PACKET_ID_PATTERN, PACKET_ID_SUFFIX_LENGTH } from '../../packets/gate/ids';
import { createHarness, type Harness } from '../support/harness';
import { fund } from '../support/packets';
import { expectAuditClean } from '../support/audit';

const orderNumberOf = (packetId: string) => packetId.slice(0, -PACKET_ID_SUFFIX_LENGTH);
const suffixOf = (packetId: string) => packetId.slice(-PACKET_ID_SUFFIX_LENGTH);

describe('packet ids', () => {
  let h: Harness;
  let app: Express;
  const tokens = new Map<string, string>();
  const as = async (userId: string) => {
    if (!tokens.has(userId)) tokens.set(userId, await h.tokenFor(userId));
    return { Authorization: `Bearer ${tokens.get(userId)}` };
  };

  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
    app = h.app();
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  test('two ids allocated in the same millisecond differ in their random suffix', async () => {
    const nowMs = Date.parse('2026-11-23T15:01:24.084Z');
    const deps = { db: h.db, redis: h.redis, region: h.config.packet.region };
    const first = await allocatePacketId(deps, nowMs);
    const second = await allocatePacketId(deps, nowMs);
    expect(first.source).toBe('redis');
    for (const { packetId } of [first, second]) expect(packetId).toMatch(PACKET_ID_PATTERN);
    expect(suffixOf(first.packetId)).not.toBe(suffixOf(second.packetId));

    // A Redis restart can rewind the counter to the same order number; the suffix still tells them apart.
    await h.redis.client.del(h.redis.keys.packetIdCounter('20261123', h.config.packet.region));
    const rewound = await allocatePacketId(deps, nowMs);
    expect(orderNumberOf(rewound.packetId)).toBe(orderNumberOf(first.packetId));
    expect(rewound.packetId).not.toBe(first.packetId);

    const down = await h.unreachableRedis();
    const fromPostgres = [
      await allocatePacketId({ ...deps, redis: down }, nowMs),
      await allocatePacketId({ ...deps, redis: down }, nowMs),
    ];
    expect(fromPostgres.map((id) => id.source)).toEqual(['postgres', 'postgres']);
    for (const { packetId } of fromPostgres) expect(packetId).toMatch(PACKET_ID_PATTERN);
    expect(suffixOf(fromPostgres[0]!.packetId)).not.toBe(suffixOf(fromPostgres[1]!.packetId));
  });

  test('a guess of the order number alone is refused as an unknown packet, with Redis up or down', async () => {
    await fund(h, 'ids_sender', 300);
    const sent = await request(app)
      .post('/v1/packets')
      .set(await as('ids_sender'))
      .set('Idempotency-Key', 'ids-open-group')
      .send({ type: 'random', amountFen: 300, count: 3 });
    expect(sent.status).toBe(201);
    const packetId = sent.body.packetId as string;
    expect(packetId).toMatch(PACKET_ID_PATTERN);

    const orderNumber = orderNumberOf(packetId);
    const n = Number(orderNumber.slice(-11));
    const neighbour = (delta: number) => `${orderNumber.slice(0, -11)}${String(n + delta).padStart(11, '0')}`;
    const guesses = [orderNumber, neighbour(-1), neighbour(1), `${orderNumber}${'a'.repeat(13)}`];
    const unknown = `${orderNumber.slice(0, -11)}99999999999${'b'.repeat(13)}`;
    const strip = (body: Record<string, unknown>) => ({ ...body, instance: undefined });

    const probe = async (target: Express, path: string, method: 'get' | 'post') => {
      const agent = request(target);
      return (method === 'get' ? agent.get(path) : agent.post(path)).set(await as('ids_stranger'));
    };
    const degraded = h.app({ redis: await h.unreachableRedis() });
    for (const target of [app, degraded]) {
      const expected = strip((await probe(target, `/v1/packets/${unknown}/grab`, 'post')).body);
      expect(expected).toMatchObject({ status: 404, code: 'packet_not_found' });
      for (const guess of guesses) {
        for (const [path, method] of [
          [`/v1/packets/${guess}`, 'get'],
          [`/v1/packets/${guess}/grab`, 'post'],
          [`/v1/packets/${guess}/open`, 'post'],
        ] as const) {
          const res = await probe(target, path, method);
          expect(res.status).toBe(404);
          expect(strip(res.body)).toEqual(expected);
        }
      }
    }
    const { rows } = await h.db.query<{ n: number }>('SELECT count(*)::int AS n FROM claims');
    expect(rows[0]?.n).toBe(0);

    // The whole id is the group's bearer secret: with it, anyone may claim from an open group packet.
    expect((await probe(app, `/v1/packets/${packetId}/grab`, 'post')).status).toBe(200);
    expect((await probe(app, `/v1/packets/${packetId}/open`, 'post')).status).toBe(200);
  });
});
