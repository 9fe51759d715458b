import request from 'supertest';
import { deposit } from '../../ledger/deposits';
import { createHarness, type Harness } from '../support/harness';

const SENT_COUNT = 45;
const RECEIVED_COUNT = 23;
const BILL_COUNT = 25;

describe('lists', () => {
  let h: Harness;
  let app: ReturnType<Harness['app']>;

  beforeAll(async () => {
    h = await createHarness();
    app = h.app();
    // Fixtures written directly: the list SQL is under test here, not the send and open paths. The ten oldest
    // packets share one created_at (to the microsecond), and a page boundary falls among them, so pages must
    // break ties by id.
    await h.db.query(
      `INSERT INTO packets (day, id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count,
                            expires_at, created_at)
       SELECT day_of_id('lp'), 'lp' || lpad(i::text, 3, '0'), 'list_sender', 'fixed', 100, 2, 100, 2, now() + interval '1 day',
              CASE WHEN i <= 10 THEN timestamptz '2026-01-01 00:00:00.123456+00'
                   ELSE timestamptz '2026-01-01 00:00:01+00' + i * interval '1 microsecond' END
       FROM generate_series(1, $1) AS i`,
      [SENT_COUNT],
    );
    await h.db.query(
      `INSERT INTO packets (day, id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count,
                            expires_at)
       SELECT day_of_id('rp'), 'rp' || lpad(i::text, 3, '0'), 'list_other', 'random', 100, 2, 90, 1, now() + interval '1 day'
       FROM generate_series(1, $1) AS i`,
      [RECEIVED_COUNT],
    );
    await h.db.query(
      `INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen, created_at, credited_at)
       SELECT day_of_id('rc'), 'rc' || lpad(i::text, 3, '0'), 'rp' || lpad(i::text, 3, '0'), 'list_receiver', 1, 10,
              timestamptz '2026-02-01' + (i / 3) * interval '1 second', CASE WHEN i % 2 = 0 THEN now() END
       FROM generate_series(1, $1) AS i`,
      [RECEIVED_COUNT],
    );
    for (let i = 1; i <= BILL_COUNT; i += 1) {
      await deposit(h.db, { key: `list-bill-${i}`, userId: 'list_biller', amountFen: i });
    }
  });
  afterAll(async () => {
    await h.close();
  });

  async function walk(target: ReturnType<Harness['app']>, path: string, userId: string, limit: number) {
    const token = await h.tokenFor(userId);
    const pages: { items: Record<string, unknown>[]; nextCursor: string | null }[] = [];
    let cursor: string | null | undefined;
    do {
      const res = await request(target)
        .get(path)
        .query({ limit, ...(cursor ? { cursor } : {}) })
        .set('Authorization', `Bearer ${token}`)
        .expect(200);
      pages.push(res.body);
      cursor = res.body.nextCursor;
    } while (cursor && pages.length < 100);
    return pages;
  }

  test('sent packets page newest first, ties broken by id, none skipped or repeated', async () => {
    const pages = await walk(app, '/v1/me/packets/sent', 'list_sender', 20);
    expect(pages.map((page) => page.items.length)).toEqual([20, 20, 5]);
    const ids = pages.flatMap((page) => page.items.map((item) => item['packetId']));
    const expected = Array.from(
      { length: SENT_COUNT },
      (_, i) => `lp${String(SENT_COUNT - i).padStart(3, '0')}`,
    );
    expect(ids).toEqual(expected);
    expect(pages[0]?.items[0]).toMatchObject({ type: 'fixed', totalFen: 100, shareCount: 2, status: 'open' });
  });

  test('received shares page newest first with their packet and credit state', async () => {
    const pages = await walk(app, '/v1/me/packets/received', 'list_receiver', 7);
    const items = pages.flatMap((page) => page.items);
    expect(items).toHaveLength(RECEIVED_COUNT);
    expect(new Set(items.map((item) => item['claimId'])).size).toBe(RECEIVED_COUNT);
    const times = items.map((item) => Date.parse(item['claimedAt'] as string));
    expect([...times].sort((a, b) => b - a)).toEqual(times);
    expect(items.find((item) => item['claimId'] === 'rc002')).toMatchObject({
      packetId: 'rp002',
      senderId: 'list_other',
      amountFen: 10,
      credited: true,
    });
    expect(items.find((item) => item['claimId'] === 'rc001')).toMatchObject({ credited: false });
  });

  test('bills page newest first by ledger sequence', async () => {
    const pages = await walk(app, '/v1/me/bills', 'list_biller', 10);
    expect(pages.map((page) => page.items.length)).toEqual([10, 10, 5]);
    const amounts = pages.flatMap((page) => page.items.map((item) => item['amountFen']));
    expect(amounts).toEqual(Array.from({ length: BILL_COUNT }, (_, i) => BILL_COUNT - i));
  });

  test('the default page is 20 and the largest 100', async () => {
    const token = await h.tokenFor('list_sender');
    const first = await request(app)
      .get('/v1/me/packets/sent')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    expect(first.body.items).toHaveLength(20);
    await request(app)
      .get('/v1/me/packets/sent?limit=100')
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    const res = await request(app)
      .get('/v1/me/packets/sent?limit=101')
      .set('Authorization', `Bearer ${token}`)
      .expect(400);
    expect(res.body).toMatchObject({ code: 'validation_failed', errors: [{ field: 'query.limit' }] });
  });

  test('a forged or foreign-list cursor is 400 invalid_cursor', async () => {
    const token = await h.tokenFor('list_biller');
    const billsCursor = (await walk(app, '/v1/me/bills', 'list_biller', 10))[0]?.nextCursor;
    const res = await request(app)
      .get('/v1/me/packets/sent')
      .query({ cursor: billsCursor })
      .set('Authorization', `Bearer ${token}`)
      .expect(400);
    expect(res.body.code).toBe('invalid_cursor');
    await request(app).get('/v1/me/bills?cursor=%7B%7D').set('Authorization', `Bearer ${token}`).expect(400);
  });

  test('under pressure two pages are served and the third is refused politely', async () => {
    const pressed = h.app({ config: { ...h.config, lists: { ...h.config.lists, underPressure: true } } });
    const token = await h.tokenFor('list_sender');
    const first = await request(pressed)
      .get('/v1/me/packets/sent?limit=10')
      .set('Authorization', `Bearer ${token}`);
    const second = await request(pressed)
      .get('/v1/me/packets/sent')
      .query({ limit: 10, cursor: first.body.nextCursor })
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    const third = await request(pressed)
      .get('/v1/me/packets/sent')
      .query({ limit: 10, cursor: second.body.nextCursor })
      .set('Authorization', `Bearer ${token}`)
      .expect(503);
    expect(third.body.code).toBe('list_depth_limited');
    expect(third.headers['retry-after']).toBe(String(h.config.lists.retryAfterSeconds));
    // The same cursor works once the pressure is gone.
    await request(app)
      .get('/v1/me/packets/sent')
      .query({ limit: 10, cursor: second.body.nextCursor })
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
  });

  test('Redis being unreachable counts as pressure', async () => {
    const degraded = h.app({ redis: await h.unreachableRedis() });
    const pages = await walk(app, '/v1/me/bills', 'list_biller', 5);
    const token = await h.tokenFor('list_biller');
    await request(degraded)
      .get('/v1/me/bills')
      .query({ limit: 5, cursor: pages[0]?.nextCursor })
      .set('Authorization', `Bearer ${token}`)
      .expect(200);
    const res = await request(degraded)
      .get('/v1/me/bills')
      .query({ limit: 5, cursor: pages[1]?.nextCursor })
      .set('Authorization', `Bearer ${token}`)
      .expect(503);
    expect(res.body.code).toBe('list_depth_limited');
  });
});
