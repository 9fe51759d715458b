import request from 'supertest';
import type { Express } from 'express';
import { createActivities } from '../../activities';
import type { AppContext } from '../../api/app';
import { Problem } from '../../api/problems';
import type { GatedCall, GatedDeclaration } from '../../api/routes/gated';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetInput, uniqueTag } from '../support/ledgerFixtures';

/**
 * Grab and open are declared once (api/routes/gated.ts): a step added to the declaration is run by the
 * Express route and by the hot lane alike, in its place, and its refusal is answered alike.
 */
describe("a step added to grab and open's declaration", () => {
  let h: Harness;
  /** What the added steps saw, by way in: `<way> <step> <action> <user>`. */
  const seen: string[] = [];

  /** Adds a step after authentication that refuses one user, and a step after the action. */
  const withSteps =
    (way: string) =>
    (declaration: GatedDeclaration): GatedDeclaration => {
      const [authenticate, ...admitRest] = declaration.admit;
      if (!authenticate) throw new Error('the declaration has no authentication step');
      const banned = (call: GatedCall) => {
        seen.push(`${way} admit ${call.action} ${call.user?.id}`);
        if (call.user?.id === 'banned') throw new Problem(403, 'banned', 'Banned', 'This user may not grab.');
      };
      const after = (call: GatedCall) => {
        seen.push(`${way} act ${call.action} ${call.user?.id} ${call.result ? 'with' : 'without'} result`);
      };
      const [action, ...actRest] = declaration.act;
      if (!action) throw new Error('the declaration has no action');
      return { admit: [authenticate, banned, ...admitRest], act: [action, after, ...actRest] };
    };

  let ways: Record<'lane' | 'full', { app: Express; ctx: AppContext }>;

  beforeAll(async () => {
    h = await createHarness();
    ways = {
      lane: h.appWithContext(undefined, { hotLane: true, gated: withSteps('lane') }),
      full: h.appWithContext(undefined, { hotLane: false, gated: withSteps('full') }),
    };
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
  });

  async function paidPacket(): Promise<string> {
    const tag = uniqueTag();
    await fund(h.db, `s-${tag}`, 200);
    const input = packetInput({ packetId: `gs-${tag}`, senderId: `s-${tag}`, totalFen: 200, shareCount: 2 });
    await createActivities({ db: h.db, redis: h.redis, credit: h.config.credit }).payPacket(input);
    return input.packetId;
  }

  const post = async (way: 'lane' | 'full', packetId: string, action: string, userId: string) =>
    request(ways[way].app)
      .post(`/v1/packets/${packetId}/${action}`)
      .set('Authorization', `Bearer ${await h.tokenFor(userId)}`);

  const laneTaken = async () =>
    (await ways.lane.ctx.metrics.hotLane.get()).values.reduce((sum, value) => sum + value.value, 0);

  test.each(['lane', 'full'] as const)('the %s way runs both added steps in their places', async (way) => {
    seen.length = 0;
    const packetId = await paidPacket();
    expect((await post(way, packetId, 'grab', 'u1')).status).toBe(200);
    expect((await post(way, packetId, 'open', 'u1')).status).toBe(200);
    expect(seen).toEqual([
      `${way} admit grab u1`,
      `${way} act grab u1 with result`,
      `${way} admit open u1`,
      `${way} act open u1 with result`,
    ]);
  });

  test('the added refusal is answered alike by both ways, and the lane leaves it to the app', async () => {
    const packetId = await paidPacket();
    const takenBefore = await laneTaken();
    const answers = [];
    for (const way of ['lane', 'full'] as const) {
      const answer = await post(way, packetId, 'grab', 'banned');
      answers.push({ status: answer.status, body: answer.body as unknown });
    }
    expect(answers[0]).toEqual(answers[1]);
    expect(answers[0]).toMatchObject({ status: 403, body: { code: 'banned' } });
    expect(await laneTaken()).toBe(takenBefore);
  });
});
