import request from 'supertest';
import { cellOfPacketId } from '../../domain/cells';
import { createDb } from '../../db';
import { expectAuditClean } from '../support/audit';
import { createTwoCells, INTERNAL_TOKEN, usersHomedIn, type TestCell } from '../support/cells';
import { createHarness } from '../support/harness';
import { fund, uniqueTag } from '../support/ledgerFixtures';

/**
 * Routing between two cells (api/cells/): each cell is a real API on its own port, over its own schema,
 * key prefix and task queue, with a worker. Every request kind is sent to the cell that does NOT own it, and
 * must be answered by the owner, from the owner's database; a cell that is down, or a forwarded request that
 * reached the wrong cell, is 503 region_unavailable with Retry-After.
 */
describe('routing between two cells', () => {
  let cells: Awaited<ReturnType<typeof createTwoCells>>;
  let n: TestCell;
  let s: TestCell;
  const tag = uniqueTag();
  // Senders homed in s, asking n's API; a grabber of each home.
  const [sSender] = usersHomedIn('s', `snd-${tag}`, 1) as [string];
  const [nGrabber] = usersHomedIn('n', `grb-${tag}`, 1) as [string];
  const [sGrabber] = usersHomedIn('s', `grb-${tag}`, 1) as [string];

  beforeAll(async () => {
    cells = await createTwoCells();
    ({ n, s } = cells);
    await Promise.all([n.h.startWorker(), s.h.startWorker()]);
  });
  afterAll(async () => {
    // The money audit of each cell, after every scenario of the file.
    await expectAuditClean(n.h.db);
    await expectAuditClean(s.h.db);
    await cells.close();
  });

  const auth = async (cell: TestCell, userId: string, admin = false) =>
    `Bearer ${await cell.h.tokenFor(userId, { admin })}`;

  /** Sends a fixed packet through `via` (whichever cell that is) and returns its id. */
  async function send(via: TestCell, senderId: string, count = 2): Promise<string> {
    const res = await request(via.app)
      .post('/v1/packets')
      .set('Authorization', await auth(via, senderId))
      .set('Idempotency-Key', `send-${uniqueTag()}`)
      .send({ type: 'fixed', amountFen: 100 * count, count });
    expect(res.status).toBe(201);
    return (res.body as { packetId: string }).packetId;
  }

  test('a send by a user homed in s, asked of n, is paid in s and its packet carries s', async () => {
    await fund(s.h.db, sSender, 10_000);
    const packetId = await send(n, sSender);
    expect(cellOfPacketId(packetId)).toBe('s');
    const inCell = async (cell: TestCell) =>
      (await cell.h.db.query('SELECT 1 FROM packets WHERE id = $1', [packetId])).rowCount;
    expect([await inCell(n), await inCell(s)]).toEqual([0, 1]);
  });

  test.each([
    ['the hot lane', false],
    ['the Express route', true],
  ])('grab and open of an s packet through n (%s) claim in s', async (_way, withKey) => {
    const packetId = await send(s, sSender);
    const act = async (action: 'grab' | 'open', userId: string) => {
      const call = request(n.app)
        .post(`/v1/packets/${packetId}/${action}`)
        .set('Authorization', await auth(n, userId));
      return withKey ? call.set('Idempotency-Key', `${action}-${uniqueTag()}`) : call;
    };
    for (const userId of [nGrabber, sGrabber]) {
      expect((await act('grab', userId)).status).toBe(200);
      const opened = await act('open', userId);
      expect(opened.status).toBe(200);
      expect(opened.body).toMatchObject({ amountFen: 100 });
    }
    const claims = await s.h.db.query('SELECT user_id FROM claims WHERE packet_id = $1', [packetId]);
    expect(claims.rowCount).toBe(2);
    // The detail, asked of n, is s's.
    const detail = await request(n.app)
      .get(`/v1/packets/${packetId}`)
      .set('Authorization', await auth(n, sSender));
    expect(detail.status).toBe(200);
    expect(detail.body).toMatchObject({ packetId, remainingCount: 0 });
  });

  test('a deposit, the balance, the bills and the sent list go to the home of their user', async () => {
    const [sUser] = usersHomedIn('s', `dep-${tag}`, 1) as [string];
    const deposit = await request(n.app)
      .post('/v1/admin/deposits')
      .set('Authorization', await auth(n, 'root', true))
      .set('Idempotency-Key', `dep-${tag}`)
      .send({ userId: sUser, amountFen: 700 });
    expect(deposit.status).toBe(201);
    const walletRows = async (cell: TestCell) =>
      (
        await cell.h.db.query(
          "SELECT 1 FROM transfers WHERE id LIKE 'deposit:%' AND credit_account_id = $1",
          [`wallet:${sUser}`],
        )
      ).rowCount;
    expect([await walletRows(n), await walletRows(s)]).toEqual([0, 1]);

    const balance = await request(n.app)
      .get('/v1/me/balance')
      .set('Authorization', await auth(n, sUser));
    expect(balance.status).toBe(200);
    expect(balance.body).toMatchObject({ userId: sUser, balanceFen: 700 });
    const bills = await request(n.app)
      .get('/v1/me/bills')
      .set('Authorization', await auth(n, sUser));
    expect(bills.status).toBe(200);
    expect((bills.body as { items: unknown[] }).items).toHaveLength(1);
    const sent = await request(n.app)
      .get('/v1/me/packets/sent')
      .set('Authorization', await auth(n, sSender));
    expect(sent.status).toBe(200);
    expect((sent.body as { items: unknown[] }).items.length).toBeGreaterThan(0);
  });

  test('a forwarded request that reached a cell which does not own it is refused, never forwarded on', async () => {
    const packetId = await send(s, sSender);
    const res = await request(n.app)
      .post(`/v1/packets/${packetId}/grab`)
      .set('Authorization', await auth(n, nGrabber))
      .set('x-rp-cell-token', INTERNAL_TOKEN)
      .set('x-rp-cell-origin', 's');
    expect(res.status).toBe(503);
    expect(res.headers['retry-after']).toBeDefined();
    expect(res.body).toMatchObject({ code: 'region_unavailable', cell: 's' });
    // A wrong internal token is an ordinary client's header: the request is routed as any other.
    const spoofed = await request(n.app)
      .post(`/v1/packets/${packetId}/grab`)
      .set('Authorization', await auth(n, nGrabber))
      .set('x-rp-cell-token', 'not-the-token');
    expect(spoofed.status).toBe(200);
  });

  test('the received list merges both cells newest first, and pages across them', async () => {
    const [reader] = usersHomedIn('n', `rd-${tag}`, 1) as [string];
    const [nSender] = usersHomedIn('n', `snd-${tag}`, 1) as [string];
    await fund(n.h.db, nSender, 10_000);
    const opened: string[] = [];
    // Alternate cells so that the newest-first order interleaves them.
    for (const [via, sender] of [
      [n, nSender],
      [s, sSender],
      [n, nSender],
      [s, sSender],
    ] as const) {
      const packetId = await send(via, sender, 1);
      for (const action of ['grab', 'open']) {
        const res = await request(s.app)
          .post(`/v1/packets/${packetId}/${action}`)
          .set('Authorization', await auth(s, reader));
        expect(res.status).toBe(200);
      }
      opened.unshift(packetId);
    }
    const token = await auth(n, reader);
    const whole = await request(n.app).get('/v1/me/packets/received').set('Authorization', token);
    expect(whole.status).toBe(200);
    expect(whole.body).toMatchObject({ missingCells: [], nextCursor: null });
    const ids = (body: unknown) => (body as { items: { packetId: string }[] }).items.map((i) => i.packetId);
    expect(ids(whole.body)).toEqual(opened);

    // Page by one, through the other cell: every claim once, in the same order.
    const paged: string[] = [];
    let cursor: string | null = null;
    do {
      const res: request.Response = await request(s.app)
        .get('/v1/me/packets/received')
        .query(cursor ? { limit: 1, cursor } : { limit: 1 })
        .set('Authorization', token);
      expect(res.status).toBe(200);
      paged.push(...ids(res.body));
      cursor = (res.body as { nextCursor: string | null }).nextCursor;
    } while (cursor !== null && paged.length < 10);
    expect(paged).toEqual(opened);

    // With s down, n answers its own part and names s; s's claims are left out, never a 5xx.
    await s.stop();
    try {
      const partial = await request(n.app).get('/v1/me/packets/received').set('Authorization', token);
      expect(partial.status).toBe(200);
      expect(partial.body).toMatchObject({ missingCells: ['s'] });
      expect(ids(partial.body)).toEqual(opened.filter((id) => cellOfPacketId(id) === 'n'));
    } finally {
      await s.start();
    }
  });

  test('with s down, what s owns is 503 region_unavailable through n, and what n owns is served', async () => {
    const sPacket = await send(s, sSender);
    const [nSender] = usersHomedIn('n', `down-${tag}`, 1) as [string];
    await fund(n.h.db, nSender, 1_000);
    await s.stop();
    try {
      const refusals = [
        request(n.app)
          .post(`/v1/packets/${sPacket}/grab`)
          .set('Authorization', await auth(n, nGrabber)),
        request(n.app)
          .get(`/v1/packets/${sPacket}`)
          .set('Authorization', await auth(n, nGrabber)),
        request(n.app)
          .post('/v1/packets')
          .set('Authorization', await auth(n, sSender))
          .send({ type: 'fixed', amountFen: 100, count: 1 }),
        request(n.app)
          .get('/v1/me/balance')
          .set('Authorization', await auth(n, sGrabber)),
      ];
      for (const res of await Promise.all(refusals)) {
        expect(res.status).toBe(503);
        expect(res.headers['retry-after']).toBe('2');
        expect(res.body).toMatchObject({ code: 'region_unavailable', cell: 's' });
      }
      // n's own packets and users are served as before.
      const nPacket = await send(n, nSender, 1);
      const grab = await request(n.app)
        .post(`/v1/packets/${nPacket}/grab`)
        .set('Authorization', await auth(n, sGrabber));
      expect(grab.status).toBe(200);
    } finally {
      await s.start();
    }
  });

  test("with n's own Postgres gone, n answers 503 region_unavailable, not a 500", async () => {
    const [nUser] = usersHomedIn('n', `pg-${tag}`, 1) as [string];
    const deadDb = createDb({
      database: { ...n.h.config.database, url: 'postgres://postgres@127.0.0.1:1/x' },
    });
    try {
      const app = n.h.app({ db: deadDb });
      const res = await request(app)
        .get('/v1/me/balance')
        .set('Authorization', await auth(n, nUser));
      expect(res.status).toBe(503);
      expect(res.body).toMatchObject({ code: 'region_unavailable', cell: 'n' });
    } finally {
      await deadDb.close();
    }
  });
});

describe('one cell', () => {
  test('mounts no routing: no forwarder, and the received list is the plain page', async () => {
    const h = await createHarness();
    try {
      const { app, ctx } = h.appWithContext();
      expect(ctx.cellRouting).toBeUndefined();
      const res = await request(app)
        .get('/v1/me/packets/received')
        .set('Authorization', `Bearer ${await h.tokenFor('solo')}`);
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ items: [], nextCursor: null });
    } finally {
      await h.close();
    }
  });
});
