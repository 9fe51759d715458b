import { Router } from 'express';
import request from 'supertest';
import { z } from 'zod';
import type { AppContext } from '../../api/context';
import { defineRoute } from '../../api/pipeline';
import { routeFactories } from '../../api/routes';
import { DomainError, ErrorCode } from '../../domain/errors';
import { createHarness, type Harness } from '../support/harness';

/** A POST with a countable effect, a gate to hold it in flight, and scripted failures. */
function effectRoutes(state: {
  effects: number;
  gates: Map<string, Promise<void>>;
  failures: Map<string, number>;
}) {
  return (ctx: AppContext) => {
    const router = Router();
    defineRoute(ctx, router, {
      method: 'post',
      path: '/test/effects',
      summary: 'test effect',
      tags: ['test'],
      auth: 'user',
      body: z.strictObject({ note: z.string(), fail: z.enum(['crash', 'broke']).optional() }),
      response: { status: 201, description: 'effect', schema: z.object({ effect: z.int() }) },
      handler: async ({ body }) => {
        await state.gates.get(body.note);
        const failuresLeft = state.failures.get(body.note) ?? 0;
        if (failuresLeft > 0) {
          state.failures.set(body.note, failuresLeft - 1);
          if (body.fail === 'crash') throw new Error('simulated crash with SELECT secret FROM somewhere');
          throw new DomainError(ErrorCode.InsufficientFunds, 'wallet cannot cover it');
        }
        state.effects += 1;
        return { status: 201, body: { effect: state.effects, note: body.note } };
      },
    });
    return router;
  };
}

describe('Idempotency-Key', () => {
  let h: Harness;
  let app: ReturnType<Harness['app']>;
  let ctx: AppContext;
  let admin: string;
  let user: string;
  const state = { effects: 0, gates: new Map<string, Promise<void>>(), failures: new Map<string, number>() };

  beforeAll(async () => {
    h = await createHarness();
    ({ app, ctx } = h.appWithContext({}, { routes: [...routeFactories, effectRoutes(state)] }));
    admin = await h.tokenFor('idem_root', { admin: true });
    user = await h.tokenFor('idem_user');
  });
  afterAll(async () => {
    await h.close();
  });

  const depositWith = (key: string | undefined, body: unknown, token = admin) => {
    const req = request(app).post('/v1/admin/deposits').set('Authorization', `Bearer ${token}`);
    return (key === undefined ? req : req.set('Idempotency-Key', key)).send(body as object);
  };
  const effect = (key: string, body: object) =>
    request(app)
      .post('/test/effects')
      .set('Authorization', `Bearer ${user}`)
      .set('Idempotency-Key', key)
      .send(body);
  const balanceOf = async (userId: string) =>
    (
      await request(app)
        .get('/v1/me/balance')
        .set('Authorization', `Bearer ${await h.tokenFor(userId)}`)
    ).body.balanceFen as number;

  test('a sequential replay returns the first answer byte for byte and moves money once', async () => {
    const first = await depositWith('seq-1', { userId: 'idem_a', amountFen: 500 }).expect(201);
    expect(first.headers['idempotent-replayed']).toBeUndefined();
    const again = await depositWith('seq-1', { amountFen: 500, userId: 'idem_a' }).expect(201);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.text).toBe(first.text);
    expect(again.headers['content-type']).toBe(first.headers['content-type']);
    expect(await balanceOf('idem_a')).toBe(500);
  });

  test('concurrent replays have exactly one effect; the rest are in flight or replays of it', async () => {
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => depositWith('conc-1', { userId: 'idem_b', amountFen: 300 })),
    );
    const created = answers.filter((res) => res.status === 201);
    const inFlight = answers.filter((res) => res.status === 409);
    expect(created.length + inFlight.length).toBe(20);
    expect(created.length).toBeGreaterThanOrEqual(1);
    expect(new Set(created.map((res) => res.text)).size).toBe(1);
    for (const res of inFlight) {
      expect(res.body.code).toBe('idempotency_in_flight');
      expect(res.headers['retry-after']).toBe('1');
    }
    expect(await balanceOf('idem_b')).toBe(300);
    const { rows } = await h.db.query("SELECT 1 FROM transfers WHERE credit_account_id = 'wallet:idem_b'");
    expect(rows).toHaveLength(1);
  });

  test('the same key with a different body, or on another endpoint, is 422 and changes nothing', async () => {
    await depositWith('reuse-1', { userId: 'idem_c', amountFen: 100 }).expect(201);
    const changed = await depositWith('reuse-1', { userId: 'idem_c', amountFen: 101 }).expect(422);
    expect(changed.body.code).toBe('idempotency_key_reused');
    await depositWith('reuse-1', { userId: 'idem_other', amountFen: 100 }).expect(422);
    const elsewhere = await request(app)
      .post('/test/effects')
      .set('Authorization', `Bearer ${admin}`)
      .set('Idempotency-Key', 'reuse-1')
      .send({ note: 'x' })
      .expect(422);
    expect(elsewhere.body.code).toBe('idempotency_key_reused');
    expect(await balanceOf('idem_c')).toBe(100);
  });

  test('while the first request runs, the same key is 409; afterwards it replays', async () => {
    let open: () => void = () => undefined;
    state.gates.set('held', new Promise<void>((resolve) => (open = resolve)));
    const first = effect('flight-1', { note: 'held' }).then((res) => res);
    await new Promise((resolve) => setTimeout(resolve, 100));
    const during = await effect('flight-1', { note: 'held' }).expect(409);
    expect(during.body.code).toBe('idempotency_in_flight');
    const effectsBefore = state.effects;
    open();
    const done = await first;
    expect(done.status).toBe(201);
    expect(state.effects).toBe(effectsBefore + 1);
    const after = await effect('flight-1', { note: 'held' }).expect(201);
    expect(after.headers['idempotent-replayed']).toBe('true');
    expect(after.text).toBe(done.text);
  });

  test('a key whose first request died is free again after the lock timeout, for the same request only', async () => {
    let open: () => void = () => undefined;
    state.gates.set('stuck', new Promise<void>((resolve) => (open = resolve)));
    const stuck = effect('lease-1', { note: 'stuck' }).then((res) => res);
    await new Promise((resolve) => setTimeout(resolve, 100));
    // As if the process holding the key had died long ago.
    await h.db.query(
      "UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE key = 'lease-1'",
    );
    await effect('lease-1', { note: 'something else' }).expect(422);
    state.gates.delete('stuck');
    const takeover = await effect('lease-1', { note: 'stuck' }).expect(201);
    open();
    await stuck;
    // The late first request cannot overwrite the answer of the attempt that took its key over.
    const replay = await effect('lease-1', { note: 'stuck' }).expect(201);
    expect(replay.text).toBe(takeover.text);
  });

  test('a 5xx releases the key so the same request can be retried, without leaking the error', async () => {
    state.failures.set('crashy', 1);
    const failed = await effect('crash-1', { note: 'crashy', fail: 'crash' }).expect(500);
    expect(failed.body.code).toBe('internal');
    expect(failed.text).not.toMatch(/SELECT|secret|at .*\.ts/);
    const retried = await effect('crash-1', { note: 'crashy', fail: 'crash' }).expect(201);
    expect(retried.headers['idempotent-replayed']).toBeUndefined();
  });

  test('a 4xx answer from the handler is stored and replayed like a success', async () => {
    state.failures.set('broke', 1);
    const first = await effect('broke-1', { note: 'broke', fail: 'broke' }).expect(402);
    expect(first.body.code).toBe('insufficient_funds');
    const again = await effect('broke-1', { note: 'broke', fail: 'broke' }).expect(402);
    expect(again.headers['idempotent-replayed']).toBe('true');
    expect(again.text).toBe(first.text);
  });

  test('a request refused by validation does not consume the key', async () => {
    await depositWith('valid-later', { userId: 'idem_d', amountFen: -1 }).expect(400);
    await depositWith('valid-later', { userId: 'idem_d', amountFen: 50 }).expect(201);
  });

  test('an expired key counts as absent: the request runs again, and the ledger still pays once', async () => {
    const first = await effect('exp-1', { note: 'expiring' }).expect(201);
    await h.db.query(
      "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'exp-1'",
    );
    const second = await effect('exp-1', { note: 'changed after expiry' }).expect(201);
    expect(second.headers['idempotent-replayed']).toBeUndefined();
    expect(second.body.effect).toBeGreaterThan(first.body.effect);

    await depositWith('exp-2', { userId: 'idem_e', amountFen: 70 }).expect(201);
    await h.db.query(
      "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'exp-2'",
    );
    // The deposit's transfer id derives from the key, so a retry after expiry replays in the ledger ...
    await depositWith('exp-2', { userId: 'idem_e', amountFen: 70 }).expect(201);
    await h.db.query(
      "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'exp-2'",
    );
    // ... and a different amount under the old key is a conflict, not a second deposit.
    const conflict = await depositWith('exp-2', { userId: 'idem_e', amountFen: 71 }).expect(409);
    expect(conflict.body.code).toBe('transfer_conflict');
    expect(await balanceOf('idem_e')).toBe(70);
  });

  test('keys are kept for the configured TTL (24 h by default) and purged lazily after it', async () => {
    await effect('ttl-1', { note: 'ttl' }).expect(201);
    const { rows } = await h.db.query<{ seconds: number }>(
      "SELECT extract(epoch FROM expires_at - created_at)::int AS seconds FROM idempotency_keys WHERE key = 'ttl-1'",
    );
    expect(rows[0]?.seconds).toBe(86_400);
    await h.db.query(
      "UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'ttl-1'",
    );
    expect(await ctx.idempotency.purgeExpired()).toBeGreaterThanOrEqual(1);
    const left = await h.db.query("SELECT 1 FROM idempotency_keys WHERE key = 'ttl-1'");
    expect(left.rows).toHaveLength(0);
  });

  test.each([
    ['empty', ''],
    ['too long', 'k'.repeat(256)],
    ['not ASCII', 'cl\u00e9'],
  ])('an Idempotency-Key that is %s is 400', async (_label, key) => {
    const res = await depositWith(key, { userId: 'idem_f', amountFen: 10 }).expect(400);
    expect(res.body.code).toBe('idempotency_key_invalid');
  });

  test('a deposit without Idempotency-Key is 400: money never moves without a retry-safe key', async () => {
    const res = await depositWith(undefined, { userId: 'idem_f', amountFen: 10 }).expect(400);
    expect(res.body.code).toBe('idempotency_key_required');
    expect(await balanceOf('idem_f')).toBe(0);
  });

  test('the longest allowed key works', async () => {
    await depositWith('k'.repeat(255), { userId: 'idem_g', amountFen: 10 }).expect(201);
    await depositWith('k'.repeat(255), { userId: 'idem_g', amountFen: 10 }).expect(201);
    expect(await balanceOf('idem_g')).toBe(10);
  });
});
