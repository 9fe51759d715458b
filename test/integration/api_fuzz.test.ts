/**
 * Thousands of malformed and hostile requests across every endpoint: each answer must be a 4xx problem
 * document (never a 5xx, never a stack trace or SQL), and afterwards the audit is clean and no money moved.
 * Every generated request carries at least one defect, so no answer may be a success either.
 */
import fc from 'fast-check';
import { SignJWT } from 'jose';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { hostileRequests, type Hostile, type HostileTarget } from '../support/hostile';

const RUNS = 5_200;
const BODY_LIMIT_BYTES = 4_096;

describe('fuzzing the API with hostile requests', () => {
  let h: Harness;
  let url: string;
  let tokens: HostileTarget['tokens'];
  let restrictedPacketId: string;

  beforeAll(async () => {
    h = await createHarness({ REQUEST_BODY_LIMIT_BYTES: String(BODY_LIMIT_BYTES) });
    await h.startWorker();
    ({ url } = await h.listen());
    const secret = new TextEncoder().encode(h.config.auth.secret);
    const nowSeconds = Math.floor(Date.now() / 1000);
    const craft = (claims: Record<string, unknown>, alg = 'HS256') =>
      new SignJWT(claims).setProtectedHeader({ alg }).sign(secret);
    tokens = {
      user: await h.tokenFor('fuzz_user'),
      admin: await h.tokenFor('fuzz_admin', { admin: true }),
      bad: [
        'not-a-token',
        await craft({ sub: 'fuzz_user', exp: nowSeconds - 100 }),
        await craft({ sub: 'fuzz_user' }),
        await craft({ sub: '../fuzz_admin', exp: nowSeconds + 600 }),
        await craft({ sub: 'fuzz_user', exp: nowSeconds + 600 }, 'HS384'),
        `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(`{"sub":"fuzz_admin","scope":"admin","exp":${nowSeconds + 600}}`).toString('base64url')}.`,
        (await h.tokenFor('fuzz_admin', { admin: true })).slice(0, -3) + 'AAA',
      ],
    };
    // Money in the system before the storm: a rich user and a packet offered only to others.
    const rich = await h.tokenFor('fuzz_rich');
    await call({
      method: 'POST',
      path: '/v1/admin/deposits',
      auth: tokens.admin,
      key: 'fund',
      body: '{"userId":"fuzz_rich","amountFen":50000}',
    });
    const sent = await call({
      method: 'POST',
      path: '/v1/packets',
      auth: rich,
      key: 'send',
      body: JSON.stringify({
        type: 'random',
        amountFen: 1_000,
        count: 2,
        audience: ['fuzz_rich', 'fuzz_friend', 'fuzz_friend2'],
      }),
    });
    restrictedPacketId = (JSON.parse(sent.text) as { packetId: string }).packetId;
  });
  afterAll(async () => {
    await h.close();
  });

  async function call(req: Hostile): Promise<{ status: number; contentType: string; text: string }> {
    const headers: Record<string, string> = {};
    if (req.auth !== undefined)
      headers['authorization'] = req.auth.includes(' ') ? req.auth : `Bearer ${req.auth}`;
    if (req.key !== undefined) headers['idempotency-key'] = req.key;
    if (req.body !== undefined) headers['content-type'] = req.contentType ?? 'application/json';
    const res = await fetch(`${url}${req.path}`, { method: req.method, headers, body: req.body });
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', text: await res.text() };
  }

  test(`${RUNS} hostile requests all get a 4xx problem, and no money moves`, async () => {
    const before = await expectAuditClean(h.db);
    const totalsBefore = await h.ledgerTotals();
    const statuses = new Map<number, number>();
    await fc.assert(
      fc.asyncProperty(
        hostileRequests({ tokens, restrictedPacketId, bodyLimitBytes: BODY_LIMIT_BYTES }),
        async (req) => {
          const res = await call(req);
          statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
          const problem = JSON.parse(res.text) as { status: unknown; code: unknown };
          const ok =
            res.status >= 400 &&
            res.status < 500 &&
            res.contentType.startsWith('application/problem+json') &&
            problem.status === res.status &&
            typeof problem.code === 'string' &&
            !/\bat .*\.(ts|js):\d+|SELECT |INSERT |UPDATE |syntax error|stack/i.test(res.text);
          if (!ok) throw new Error(`${req.method} ${req.path} -> ${res.status} ${res.text.slice(0, 300)}`);
        },
      ),
      { numRuns: RUNS, endOnFailure: true },
    );
    expect(await h.ledgerTotals()).toEqual(totalsBefore);
    const after = await expectAuditClean(h.db);
    expect(after.stats.totals).toEqual(before.stats.totals);
    // Every family of answer was exercised, not just one early refusal.
    for (const status of [400, 401, 403, 404, 413, 415, 422])
      expect(statuses.get(status) ?? 0).toBeGreaterThan(0);
    // Thousands of sequential round trips: about 20 s on a quiet machine, over a minute on a loaded one. What
    // is checked is every answer, not the pace.
  }, 180_000);
});
