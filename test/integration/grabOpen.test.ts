import request from 'supertest';
import { randomUUID } from 'node:crypto';
import type { Express } from 'express';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetResult } from '../support/packets';
import { expectAuditClean } from '../support/audit';
import { countOpenStatements, type CountedDb } from '../support/openCounter';

describe('grab and open', () => {
  let h: Harness;
  let app: Express;
  let counted: CountedDb;
  const tokens = new Map<string, string>();
  const as = async (userId: string) => {
    if (!tokens.has(userId)) tokens.set(userId, await h.tokenFor(userId));
    return { Authorization: `Bearer ${tokens.get(userId)}` };
  };
  const sendAs = async (userId: string, body: object) =>
    request(app)
      .post('/v1/packets')
      .set(await as(userId))
      .set('Idempotency-Key', `send-${randomUUID()}`)
      .send(body);
  const grabAs = async (userId: string, packetId: string) =>
    request(app)
      .post(`/v1/packets/${packetId}/grab`)
      .set(await as(userId));
  const openAs = async (userId: string, packetId: string) =>
    request(app)
      .post(`/v1/packets/${packetId}/open`)
      .set(await as(userId));

  beforeAll(async () => {
    // Credit figures read at every scrape, so the second scrape of the metrics test sees the credits.
    h = await createHarness({ GRAB_HOLD_MS: '400', METRICS_CREDIT_REFRESH_MS: '0' });
    await h.startWorker();
    counted = countOpenStatements(h.db);
    app = h.app({ db: counted.db });
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  test('a grabbed share opens once; opening again returns the same claim; best luck shows when all are claimed', async () => {
    await fund(h, 'gs', 300);
    const sent = await sendAs('gs', { type: 'random', amountFen: 300, count: 2, greeting: '恭喜发财' });
    expect(sent.status).toBe(201);
    const packetId = sent.body.packetId as string;

    expect((await grabAs('g1', packetId)).body).toMatchObject({
      packetId,
      degraded: false,
      remainingCount: 1,
    });
    const opened = await openAs('g1', packetId);
    expect(opened.status).toBe(200);
    expect(opened.body).toMatchObject({ packetId, creditStatus: expect.stringMatching(/pending|credited/) });
    const transactionsBefore = counted.opens();
    expect((await openAs('g1', packetId)).body.claimId).toBe(opened.body.claimId);
    expect(counted.opens()).toBe(transactionsBefore);
    expect((await grabAs('g1', packetId)).body.code).toBe('already_claimed');

    let detail = await request(app)
      .get(`/v1/packets/${packetId}`)
      .set(await as('gs'));
    expect(detail.body).toMatchObject({
      status: 'open',
      remainingCount: 1,
      bestLuckUserId: null,
      greeting: '恭喜发财',
    });

    await grabAs('g2', packetId);
    await openAs('g2', packetId);
    detail = await request(app)
      .get(`/v1/packets/${packetId}`)
      .set(await as('g2'));
    const amounts = (detail.body.claims as { userId: string; amountFen: number }[]).map(
      (claim) => claim.amountFen,
    );
    expect(amounts.reduce((a, b) => a + b, 0)).toBe(300);
    const best = (detail.body.claims as { userId: string; amountFen: number; bestLuck: boolean }[]).find(
      (claim) => claim.bestLuck,
    );
    expect(best?.amountFen).toBe(Math.max(...amounts));
    expect(detail.body.bestLuckUserId).toBe(best?.userId);
    await packetResult(h, packetId);
  });

  test('metrics report pending credits and credit lag from Postgres, and an open sends no signal', async () => {
    await request(app).get('/metrics'); // sets the credit-lag watermark
    await fund(h, 'ms', 100);
    const packetId = (await sendAs('ms', { type: 'fixed', amountFen: 100, count: 2 })).body
      .packetId as string;
    for (const user of ['m-a', 'm-b']) {
      await grabAs(user, packetId);
      await openAs(user, packetId);
    }
    await packetResult(h, packetId);
    const text = (await request(app).get('/metrics')).text;
    const value = (name: string) =>
      Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1]);
    // The claim row is the credit message: the credit pumps find it, so the open path signals nothing.
    expect(value('redpacket_signals_sent_total') || 0).toBe(0);
    expect(value('redpacket_credit_lag_seconds_count')).toBeGreaterThanOrEqual(2);
    expect(value('redpacket_pending_credits')).toBe(0);
  });

  test('refusals: repeat grab, open without a hold, exhausted, with distinct codes and nothing changed', async () => {
    await fund(h, 'rs', 200);
    const packetId = (await sendAs('rs', { type: 'fixed', amountFen: 200, count: 1 })).body
      .packetId as string;
    expect((await openAs('r1', packetId)).body).toMatchObject({ status: 409, code: 'no_hold' });
    expect((await grabAs('r1', packetId)).status).toBe(200);
    expect((await grabAs('r1', packetId)).body).toMatchObject({ status: 409, code: 'already_holding' });
    expect((await grabAs('r2', packetId)).body).toMatchObject({ status: 409, code: 'packet_exhausted' });
    // An open without a hold answers what a grab would: nothing is on offer.
    expect((await openAs('r2', packetId)).body.code).toBe('packet_exhausted');
    const { rows } = await h.db.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM claims WHERE packet_id = $1',
      [packetId],
    );
    expect(rows[0]?.n).toBe(0);
    await openAs('r1', packetId);
    await packetResult(h, packetId);
  });

  test('a hold that is not opened in time returns its share to others', async () => {
    await fund(h, 'ls', 100);
    const packetId = (await sendAs('ls', { type: 'fixed', amountFen: 100, count: 1 })).body
      .packetId as string;
    expect((await grabAs('l1', packetId)).status).toBe(200);
    expect((await grabAs('l2', packetId)).body.code).toBe('packet_exhausted');
    await new Promise((r) => setTimeout(r, 500)); // the 400 ms hold window passes
    expect((await grabAs('l2', packetId)).status).toBe(200);
    // l1's lapsed hold went to l2; l1 is told what a grab would tell it now.
    expect((await openAs('l1', packetId)).body.code).toBe('packet_exhausted');
    expect((await openAs('l2', packetId)).status).toBe(200);
    await packetResult(h, packetId);
  });

  test('an audience packet answers a non-member exactly as an unknown packet does', async () => {
    await fund(h, 'as', 100);
    const packetId = (
      await sendAs('as', { type: 'random', amountFen: 100, count: 2, audience: ['m1', 'm2'] })
    ).body.packetId as string;
    const transactionsBefore = counted.opens();
    const outsider = await grabAs('stranger', packetId);
    const unknown = await grabAs('stranger', '20991231cn1r99999999999');
    expect(outsider.status).toBe(404);
    const strip = (body: Record<string, unknown>) => ({ ...body, instance: undefined });
    expect(strip(outsider.body)).toEqual(strip(unknown.body));
    const detail = await request(app)
      .get(`/v1/packets/${packetId}`)
      .set(await as('stranger'));
    expect(detail.status).toBe(404);
    expect((await openAs('stranger', packetId)).status).toBe(404);
    // The gate turned the stranger away: no open transaction reached Postgres.
    expect(counted.opens()).toBe(transactionsBefore);
    expect((await grabAs('m1', packetId)).status).toBe(200);
  });

  test('a personal packet can be grabbed by its recipient only', async () => {
    await fund(h, 'ps', 88);
    const sent = await sendAs('ps', { type: 'personal', amountFen: 88, count: 1, recipientId: 'pr' });
    expect(sent.status).toBe(201);
    const packetId = sent.body.packetId as string;
    expect((await grabAs('px', packetId)).status).toBe(404);
    expect((await grabAs('pr', packetId)).status).toBe(200);
    expect((await openAs('pr', packetId)).body.amountFen).toBe(88);
    await packetResult(h, packetId);
  });

  test('after expiry, grab and open are refused as expired', async () => {
    await fund(h, 'es', 100);
    const packetId = (await sendAs('es', { type: 'fixed', amountFen: 100, count: 2, expiresInSeconds: 1 }))
      .body.packetId as string;
    expect((await grabAs('e1', packetId)).status).toBe(200);
    await packetResult(h, packetId);
    expect((await grabAs('e2', packetId)).body).toMatchObject({ status: 410, code: 'packet_expired' });
    expect((await openAs('e1', packetId)).body).toMatchObject({ status: 410, code: 'packet_expired' });
  });

  test('bad sends are refused with a problem, start nothing and debit nothing', async () => {
    await fund(h, 'bs', 1_000);
    const cases: [object, number][] = [
      [{ type: 'random', amountFen: 20_001, count: 2 }, 422],
      [{ type: 'random', amountFen: 100, count: 101 }, 422],
      [{ type: 'fixed', amountFen: 100, count: 3 }, 422],
      [{ type: 'personal', amountFen: 100, count: 1 }, 422],
      [{ type: 'personal', amountFen: 100, count: 1, recipientId: 'bs' }, 422],
      [{ type: 'random', amountFen: 100, count: 3, audience: ['a1', 'a2'] }, 422],
      [{ type: 'random', amountFen: 10.5, count: 1 }, 400],
      [{ type: 'random', amountFen: 100, count: 1, status: 'finished' }, 400],
      [{ type: 'random', amountFen: 2, count: 3 }, 422],
    ];
    for (const [body, status] of cases) {
      const res = await sendAs('bs', body);
      expect({ body, status: res.status }).toEqual({ body, status });
      expect(res.headers['content-type']).toContain('application/problem+json');
    }
    const { rows } = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM packets WHERE sender_id = 'bs'",
    );
    expect(rows[0]?.n).toBe(0);
    expect(
      (
        await request(app)
          .get('/v1/me/balance')
          .set(await as('bs'))
      ).body.balanceFen,
    ).toBe(1_000);
  });
});
