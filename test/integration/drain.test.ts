import request from 'supertest';
import { DRAIN_REFRESH_MS } from '../../api/cells/drain';
import { cellOfPacketId } from '../../domain/cells';
import { expectAuditClean } from '../support/audit';
import { createTwoCells, usersHomedIn, type TestCell } from '../support/cells';
import { creditsPerClaim, eventually } from '../support/credits';
import { startLoad, type Answer, type Load } from '../support/failoverLoad';
import { fund, uniqueTag } from '../support/ledgerFixtures';

/**
 * The drain switch (docs/failover.md "Draining a cell") on two real cells. Under a mixed load through n's
 * API, an admin drains s (through n, which forwards to s): s's home users' new sends are refused 503
 * region_unavailable with Retry-After, n's users go on sending, and s's existing packets are still grabbed,
 * opened and credited. Undrained, s's users send again. Nothing acknowledged is lost; both audits clean; the
 * switch's history says who changed it and when; a second API process of s, built before the change, sees
 * it within DRAIN_REFRESH_MS without a restart.
 */
describe('draining a cell', () => {
  let cells: Awaited<ReturnType<typeof createTwoCells>>;
  let n: TestCell;
  let s: TestCell;
  const tag = uniqueTag();
  const [sSender, sSender2] = usersHomedIn('s', `dsnd-${tag}`, 2) as [string, string];
  const [nSender] = usersHomedIn('n', `dsnd-${tag}`, 1) as [string];
  const openers = [...usersHomedIn('n', `dop-${tag}`, 4), ...usersHomedIn('s', `dop-${tag}`, 4)];
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const cellOf = (id: string): TestCell => (id === 'n' ? n : s);

  beforeAll(async () => {
    cells = await createTwoCells();
    ({ n, s } = cells);
    await Promise.all([n.h.startWorker(), s.h.startWorker()]);
    await Promise.all([fund(s.h.db, sSender, 1_000_000), fund(s.h.db, sSender2, 10_000)]);
    await fund(n.h.db, nSender, 1_000_000);
  });
  afterAll(async () => {
    await expectAuditClean(n.h.db);
    await expectAuditClean(s.h.db);
    await cells.close();
  });

  const admin = async (cell: TestCell, adminId: string) =>
    `Bearer ${await cell.h.tokenFor(adminId, { admin: true })}`;
  const setDrain = async (drained: boolean, adminId: string, reason?: string) =>
    request(n.app)
      .post('/v1/admin/cells/s/drain')
      .set('Authorization', await admin(n, adminId))
      .send({ drained, ...(reason ? { reason } : {}) });

  test('only an admin reads or sets the switch, and only for a cell that exists', async () => {
    const user = await request(n.app)
      .get('/v1/admin/cells/s/drain')
      .set('Authorization', `Bearer ${await n.h.tokenFor(nSender)}`);
    expect(user.status).toBe(403);
    expect((await request(n.app).post('/v1/admin/cells/s/drain').send({ drained: true })).status).toBe(401);
    const unknown = await request(n.app)
      .get('/v1/admin/cells/x/drain')
      .set('Authorization', await admin(n, 'ops'));
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ code: 'unknown_cell' });
    const bad = await request(n.app)
      .post('/v1/admin/cells/s/drain')
      .set('Authorization', await admin(n, 'ops'))
      .send({ drained: 'yes' });
    expect(bad.status).toBe(400);
    const read = await request(n.app)
      .get('/v1/admin/cells/s/drain')
      .set('Authorization', await admin(n, 'ops'));
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ cell: 's', drained: false, changedBy: null, history: [] });
    expect(read.body).toHaveProperty('remaining.openPackets');
  });

  test("under load: s's new sends refused while drained, its packets opened and credited, all resumes", async () => {
    // A second API process of s, built now: it must see the change without a restart.
    const sSecond = s.h.app();
    const sendBy = async (app: TestCell['app'], userId: string) =>
      request(app)
        .post('/v1/packets')
        .set('Authorization', `Bearer ${await s.h.tokenFor(userId)}`)
        .set('Idempotency-Key', `d-${uniqueTag()}`)
        .send({ type: 'fixed', amountFen: 100 * openers.length, count: openers.length });

    const load: Load = startLoad({
      url: n.url,
      tokenFor: (user) => n.h.tokenFor(user),
      senders: [sSender, nSender],
      openers,
      // While s is drained its senders are refused: a careful client gives up on that send for now.
      sendRefused: (answer: Answer) => answer.code === 'region_unavailable',
    });
    // Paid before the drain and kept from the load's openers, so it still has every share to open.
    const heldBackRes = await sendBy(s.app, sSender2);
    expect(heldBackRes.status).toBe(201);
    const heldBack = String((heldBackRes.body as { packetId: string }).packetId);
    try {
      await eventually(
        () =>
          Promise.resolve(
            load.sends.filter((p) => cellOfPacketId(p.packetId) === 's').length >= 3 || undefined,
          ),
        30_000,
        'packets of s before the drain',
      );
      const drained = await setDrain(true, 'ops-alice', 'maintenance of s');
      expect(drained.status).toBe(200);
      expect(drained.body).toMatchObject({ cell: 's', drained: true, changedBy: 'ops-alice' });
      const drainedAtMs = Date.now();
      await sleep(DRAIN_REFRESH_MS + 2_000);

      // Every send by s's user after the drain reached every process is refused, with Retry-After.
      const settledAtMs = drainedAtMs + DRAIN_REFRESH_MS + 100;
      const sSends = load.answers.filter(
        (a) => a.op === 'send' && a.userId === sSender && a.atMs > settledAtMs,
      );
      expect(sSends.length).toBeGreaterThan(0);
      for (const answer of sSends)
        expect(answer).toMatchObject({ status: 503, code: 'region_unavailable', retryAfter: '30' });
      const second = await sendBy(sSecond, sSender2);
      expect(second.status).toBe(503);
      expect(second.body).toMatchObject({ code: 'region_unavailable', cell: 's' });
      // n's users send on; s's packets are still opened.
      const after = (a: { atMs?: number; sentAtMs?: number }) => (a.atMs ?? a.sentAtMs ?? 0) > settledAtMs;
      expect(
        load.answers.some((a) => a.op === 'send' && a.userId === nSender && a.status === 201 && after(a)),
      ).toBe(true);
      // A packet s paid before the drain is grabbed and opened to the last share while drained.
      for (const userId of openers) {
        const auth = `Bearer ${await n.h.tokenFor(userId)}`;
        const path = `/v1/packets/${heldBack}`;
        expect((await request(n.app).post(`${path}/grab`).set('Authorization', auth)).status).toBe(200);
        const opened = await request(n.app).post(`${path}/open`).set('Authorization', auth);
        expect(opened.status).toBe(200);
        load.opens.push({
          packetId: heldBack,
          userId,
          claimId: String((opened.body as { claimId: string }).claimId),
          amountFen: 100,
          sentAtMs: Date.now(),
          answeredAtMs: Date.now(),
        });
      }

      expect((await setDrain(false, 'ops-bob')).status).toBe(200);
      await sleep(DRAIN_REFRESH_MS + 100);
      expect((await sendBy(sSecond, sSender2)).status).toBe(201);
      const undrainedAtMs = Date.now();
      await eventually(
        () =>
          Promise.resolve(
            load.answers.some(
              (a) => a.op === 'send' && a.userId === sSender && a.status === 201 && a.atMs > undrainedAtMs,
            ) || undefined,
          ),
        15_000,
        "s's sends to resume",
      );
    } finally {
      await load.stop();
    }

    // Nothing acknowledged lost: every 201 paid in its cell, every 200 open a claim credited exactly once.
    for (const send of load.sends) {
      const { rowCount } = await cellOf(cellOfPacketId(send.packetId)!).h.db.query(
        "SELECT 1 FROM transfers WHERE id = 'pay:' || $1",
        [send.packetId],
      );
      expect(rowCount).toBe(1);
    }
    for (const cell of [n, s]) {
      const opens = load.opens.filter((o) => cellOfPacketId(o.packetId) === cell.id);
      const packetIds = [...new Set(opens.map((o) => o.packetId))];
      await eventually(
        async () => {
          const perClaim = await creditsPerClaim(cell.h, packetIds);
          return opens.every((o) => perClaim.get(o.claimId) === 1) || undefined;
        },
        30_000,
        `every acknowledged open of ${cell.id} credited once`,
      );
    }
    expect(load.wrongAnswers()).toEqual([]);

    const read = await request(s.app)
      .get('/v1/admin/cells/s/drain')
      .set('Authorization', await admin(s, 'ops'));
    expect(read.body).toMatchObject({
      drained: false,
      changedBy: 'ops-bob',
      history: [
        { drained: false, changedBy: 'ops-bob', reason: null },
        { drained: true, changedBy: 'ops-alice', reason: 'maintenance of s' },
      ],
    });
    // What s still has to finish: its packets still open (they expire later), every claim credited by now.
    const { rows } = await s.h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM packets WHERE status = 'open'",
    );
    expect(read.body).toMatchObject({ remaining: { openPackets: rows[0]!.n, uncreditedClaims: 0 } });
    expect(rows[0]!.n).toBeGreaterThan(0);
  }, 120_000);
});
