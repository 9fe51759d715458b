import { execFile } from 'node:child_process';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import pino from 'pino';
import request from 'supertest';
import { SignJWT, jwtVerify } from 'jose';
import { createHarness, type Harness } from '../support/harness';

const run = promisify(execFile);

describe('authentication', () => {
  let h: Harness;
  let app: ReturnType<Harness['app']>;
  const secretKey = () => new TextEncoder().encode(h.config.auth.secret);
  const nowSeconds = () => Math.floor(Date.now() / 1000);

  beforeAll(async () => {
    h = await createHarness();
    app = h.app();
  });
  afterAll(async () => {
    await h.close();
  });

  const balanceWith = (authorization: string | undefined) => {
    const req = request(app).get('/v1/me/balance');
    return authorization === undefined ? req : req.set('Authorization', authorization);
  };

  async function craft(claims: Record<string, unknown>, alg = 'HS256', secret?: string): Promise<string> {
    return new SignJWT(claims)
      .setProtectedHeader({ alg })
      .sign(secret ? new TextEncoder().encode(secret) : secretKey());
  }

  const unsigned = (claims: Record<string, unknown>) =>
    `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;

  test('a valid token reads the balance of its own subject', async () => {
    const res = await balanceWith(`Bearer ${await h.tokenFor('auth_alice')}`).expect(200);
    expect(res.body).toEqual({ userId: 'auth_alice', balanceFen: 0, pendingFen: 0 });
  });

  const refusals: [string, () => Promise<string | undefined>][] = [
    ['no Authorization header', () => Promise.resolve(undefined)],
    ['a Basic scheme', () => Promise.resolve('Basic YWxpY2U6cGFzcw==')],
    ['a bearer with no token', () => Promise.resolve('Bearer ')],
    ['a malformed token', () => Promise.resolve('Bearer not.a.jwt')],
    [
      'a token signed with another secret',
      async () =>
        `Bearer ${await craft({ sub: 'x', exp: nowSeconds() + 60 }, 'HS256', 'some-other-secret-0123456789')}`,
    ],
    ['an expired token', async () => `Bearer ${await craft({ sub: 'x', exp: nowSeconds() - 60 })}`],
    ['a token without exp', async () => `Bearer ${await craft({ sub: 'x' })}`],
    ['a token without sub', async () => `Bearer ${await craft({ exp: nowSeconds() + 60 })}`],
    [
      'a token whose sub is not a user id',
      async () => `Bearer ${await craft({ sub: '../bob', exp: nowSeconds() + 60 })}`,
    ],
    [
      'an HS512 token (only HS256 is accepted)',
      async () => `Bearer ${await craft({ sub: 'x', exp: nowSeconds() + 60 }, 'HS512')}`,
    ],
    [
      'an unsigned alg=none token',
      () => Promise.resolve(`Bearer ${unsigned({ sub: 'x', exp: nowSeconds() + 60 })}`),
    ],
    [
      'a tampered payload',
      async () => {
        const [head, , signature] = (await h.tokenFor('x')).split('.');
        return `Bearer ${head}.${Buffer.from(JSON.stringify({ sub: 'root', scope: 'admin', exp: nowSeconds() + 60 })).toString('base64url')}.${signature}`;
      },
    ],
  ];

  test.each(refusals)('%s is a 401 unauthorized problem with a challenge', async (_label, header) => {
    const res = await balanceWith(await header()).expect(401);
    expect(res.headers['content-type']).toContain('application/problem+json');
    expect(res.headers['www-authenticate']).toMatch(/^Bearer /);
    expect(res.body).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(res.text).not.toMatch(/secret|stack|jose|JWS/i);
  });

  test('an expired token says so', async () => {
    const res = await balanceWith(`Bearer ${await craft({ sub: 'x', exp: nowSeconds() - 60 })}`).expect(401);
    expect(res.body.detail).toMatch(/expired/);
  });

  test('an admin route refuses a user token with 403 forbidden', async () => {
    const res = await request(app)
      .post('/v1/admin/deposits')
      .set('Authorization', `Bearer ${await h.tokenFor('auth_bob')}`)
      .set('Idempotency-Key', 'k-403')
      .send({ userId: 'auth_bob', amountFen: 100 })
      .expect(403);
    expect(res.body).toMatchObject({ code: 'forbidden' });
    expect(await h.ledgerTotals()).toEqual({ transferCount: 0, totalFen: 0 });
  });

  test('admin is read from the scope claim, as a string or a list', async () => {
    const listScope = await craft({ sub: 'auth_root', scope: ['user', 'admin'], exp: nowSeconds() + 60 });
    await request(app)
      .post('/v1/admin/deposits')
      .set('Authorization', `Bearer ${listScope}`)
      .set('Idempotency-Key', 'k-scope-list')
      .send({ userId: 'auth_carol', amountFen: 100 })
      .expect(201);
    const adminUserScope = await craft({ sub: 'auth_root', scope: 'superadmin', exp: nowSeconds() + 60 });
    await request(app)
      .post('/v1/admin/deposits')
      .set('Authorization', `Bearer ${adminUserScope}`)
      .set('Idempotency-Key', 'k-scope-near-miss')
      .send({ userId: 'auth_carol', amountFen: 100 })
      .expect(403);
  });

  test('the acting user comes from the token; a body or query naming another user is refused', async () => {
    const token = await h.tokenFor('auth_dave');
    await balanceWith(`Bearer ${token}`).query({ userId: 'auth_carol' }).expect(400);
    const res = await request(app).get('/v1/me/bills').set('Authorization', `Bearer ${token}`).expect(200);
    expect(res.body.items).toEqual([]);
  });

  test('npm run token prints a token the API accepts', async () => {
    const env = { ...process.env, AUTH_SECRET: h.config.auth.secret };
    const { stdout } = await run('npx', ['tsx', 'scripts/token.ts', 'auth_cli', '--admin', '--ttl', '120'], {
      env,
    });
    const token = stdout.trim();
    const { payload } = await jwtVerify(token, secretKey());
    expect(payload).toMatchObject({ sub: 'auth_cli', scope: 'user admin' });
    expect(payload.exp! - payload.iat!).toBe(120);
    await balanceWith(`Bearer ${token}`).expect(200);
    await expect(run('npx', ['tsx', 'scripts/token.ts', 'not a user'], { env })).rejects.toThrow();
  });

  test('request logs carry the request id and user, never the token', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    // Request lines are printed at debug (api/logging.ts); production, at info, prints only 5xx and slow ones.
    const logged = h.app({ log: pino({ level: 'debug' }, sink) });
    const token = await h.tokenFor('auth_logged');
    const res = await request(logged)
      .get('/v1/me/balance')
      .set('Authorization', `Bearer ${token}`)
      .set('X-Request-Id', 'trace-123')
      .expect(200);
    expect(res.headers['x-request-id']).toBe('trace-123');
    await request(logged).get('/v1/me/balance').set('Authorization', `Bearer ${token}x`).expect(401);
    const all = lines.join('');
    expect(all).not.toContain(token.split('.')[2]);
    expect(all).not.toContain(h.config.auth.secret);
    const line = lines
      .map((text) => JSON.parse(text) as { req?: { id?: string } })
      .find((entry) => entry.req?.id === 'trace-123');
    expect(line).toMatchObject({ userId: 'auth_logged', res: { statusCode: 200 }, req: { method: 'GET' } });
  });

  test('a request id that is not sane is replaced, not echoed', async () => {
    const res = await request(app).get('/healthz').set('X-Request-Id', 'x'.repeat(300)).expect(200);
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
