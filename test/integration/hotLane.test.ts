import request from 'supertest';
import type { Express } from 'express';
import { createActivities } from '../../activities';
import type { AppContext } from '../../api/app';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { isOpenStatement } from '../support/openCounter';
import { fund, packetInput, uniqueTag } from '../support/ledgerFixtures';

interface Way {
  app: Express;
  ctx: AppContext;
}

/** What a client sees of an answer, with the ids and times that differ between two packets made alike. */
function seen(answer: request.Response, packetId: string) {
  const text = JSON.stringify(answer.body)
    .replaceAll(packetId, '<packet>')
    .replace(/"claimId":"[^"]+"/g, '"claimId":"<claim>"')
    .replace(/"(holdExpiresAt|openedAt)":"[^"]+"/g, '"$1":"<time>"');
  return {
    status: answer.status,
    contentType: answer.headers['content-type'],
    requestId: typeof answer.headers['x-request-id'],
    retryAfter: answer.headers['retry-after'],
    challenge: answer.headers['www-authenticate'],
    body: JSON.parse(text) as unknown,
  };
}

const laneCount = async (ctx: AppContext) =>
  (await ctx.metrics.hotLane.get()).values.reduce((sum, value) => sum + value.value, 0);

/** The request-duration histogram's counts by route and status class (`_count` samples). */
const durationCounts = async (ctx: AppContext) =>
  Object.fromEntries(
    (await ctx.metrics.httpRequestDuration.get()).values
      .filter((value) => value.metricName?.endsWith('_count'))
      .map((value) => [
        `${value.labels.method} ${value.labels.route} ${value.labels.status_class}`,
        value.value,
      ]),
  );

describe('the hot lane answers storm-shaped grabs and opens as the full app does', () => {
  let h: Harness;
  let lane: Way;
  let full: Way;
  let activities: ReturnType<typeof createActivities>;
  const tokens = new Map<string, string>();
  const bearer = async (userId: string) => {
    if (!tokens.has(userId)) tokens.set(userId, await h.tokenFor(userId));
    return `Bearer ${tokens.get(userId)}`;
  };

  beforeAll(async () => {
    h = await createHarness();
    lane = h.appWithContext(undefined, { hotLane: true });
    full = h.appWithContext(undefined, { hotLane: false });
    activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  /** A paid, armed fixed packet of `count` shares (equal shares, so both ways draw the same amounts). */
  async function packet(count: number): Promise<string> {
    const tag = uniqueTag();
    await fund(h.db, `s-${tag}`, 100 * count);
    const input = {
      ...packetInput({
        packetId: `hl-${tag}`,
        senderId: `s-${tag}`,
        totalFen: 100 * count,
        shareCount: count,
      }),
      type: 'fixed' as const,
    };
    await activities.payPacket(input);
    return input.packetId;
  }

  type Step = (app: Express, packetId: string) => Promise<request.Response>;
  const post =
    (
      userId: string | null,
      action: string,
      extra: (req: request.Test) => request.Test = (req) => req,
    ): Step =>
    async (app, packetId) => {
      const req = request(app).post(`/v1/packets/${packetId}/${action}`);
      return extra(userId ? req.set('Authorization', await bearer(userId)) : req);
    };

  /** Runs the same steps on two packets made alike, one through each way, and compares every answer. */
  async function compare(count: number, steps: [string, Step][]) {
    const onLane = await packet(count);
    const onFull = await packet(count);
    for (const [name, step] of steps) {
      const viaLane = seen(await step(lane.app, onLane), onLane);
      const viaFull = seen(await step(full.app, onFull), onFull);
      expect({ step: name, ...viaLane }).toEqual({ step: name, ...viaFull });
    }
  }

  test('a grab, a second grab, an open, a repeat open, a grab after claiming and a grab of an exhausted packet', async () => {
    const before = await laneCount(lane.ctx);
    await compare(1, [
      ['grab', post('a', 'grab')],
      ['grab while holding', post('a', 'grab')],
      ['open', post('a', 'open')],
      ['open again', post('a', 'open')],
      ['grab after claiming', post('a', 'grab')],
      ['grab of an exhausted packet', post('b', 'grab')],
      ['open without a hold', post('c', 'open')],
    ]);
    // Every one of those went by the lane on one side and never on the other, and both timed them alike.
    expect((await laneCount(lane.ctx)) - before).toBe(7);
    expect(await laneCount(full.ctx)).toBe(0);
    expect(await durationCounts(lane.ctx)).toEqual(await durationCounts(full.ctx));
  });

  test("an unexpected error on the lane reaches the app's error handler: the same 500 problem", async () => {
    const packetId = await packet(2);
    // A database that fails the open statement the way a lost connection would.
    const failing = {
      ...h.db,
      query: ((text: string, values?: unknown[]) =>
        isOpenStatement(text)
          ? Promise.reject(new Error('connection lost'))
          : h.db.query(text, values)) as typeof h.db.query,
    };
    const broken = {
      lane: h.appWithContext({ db: failing }, { hotLane: true }),
      full: h.appWithContext({ db: failing }, { hotLane: false }),
    };
    const answers = [];
    for (const [userId, way] of [
      ['f', broken.lane],
      ['g', broken.full],
    ] as const) {
      const grab = await post(userId, 'grab')(way.app, packetId);
      expect(grab.status).toBe(200);
      answers.push(seen(await post(userId, 'open')(way.app, packetId), packetId));
    }
    expect(answers[0]).toMatchObject({ status: 500, requestId: 'string' });
    expect(answers[0]).toEqual(answers[1]);
    expect(await laneCount(broken.lane.ctx)).toBe(2);
    expect(await durationCounts(broken.lane.ctx)).toEqual(await durationCounts(broken.full.ctx));
  });

  test('requests of another shape go on to the app and get its answers', async () => {
    const before = await laneCount(lane.ctx);
    await compare(2, [
      ['no token', post(null, 'grab')],
      ['a token that does not verify', post(null, 'grab', (req) => req.set('Authorization', 'Bearer x.y.z'))],
      ['a query string', post('d', 'grab', (req) => req.query({ x: '1' }))],
      ['a body', post('d', 'grab', (req) => req.send({ x: 1 }))],
      ['an Idempotency-Key', post('d', 'grab', (req) => req.set('Idempotency-Key', `k-${uniqueTag()}`))],
    ]);
    expect(await laneCount(lane.ctx)).toBe(before);
    // A malformed id and an unknown packet: the first is the app's 400, the second the lane's 404.
    for (const id of ['not%20an%20id', `unknown-${uniqueTag()}`]) {
      const viaLane = await request(lane.app)
        .post(`/v1/packets/${id}/grab`)
        .set('Authorization', await bearer('e'));
      const viaFull = await request(full.app)
        .post(`/v1/packets/${id}/grab`)
        .set('Authorization', await bearer('e'));
      expect(seen(viaLane, id)).toEqual(seen(viaFull, id));
    }
    expect((await laneCount(lane.ctx)) - before).toBe(1);
  });
});
