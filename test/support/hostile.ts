/**
 * Hostile requests for the API fuzz test, as fast-check arbitraries. Every request carries at least one
 * defect (bad credentials, a bad field, a bad key, a bad query, a bad body, a path that does not exist), so
 * no answer may be a success. Add a family here when an endpoint is added.
 */
import fc from 'fast-check';

export interface Hostile {
  method: string;
  path: string;
  /** A bearer token, or a whole Authorization value when it contains a space. */
  auth?: string | undefined;
  key?: string | undefined;
  contentType?: string | undefined;
  body?: string | undefined;
}

export interface HostileTarget {
  tokens: { user: string; admin: string; bad: string[] };
  /** A packet offered only to users the fuzzing users are not. */
  restrictedPacketId: string;
  bodyLimitBytes: number;
}

// ----- hostile values (space-separated lists keep the tables short) -----
const words = (list: string) => fc.constantFrom(...list.split(' '));

const badAmount = fc.oneof(
  words('"100" 0 -1 1.5 0.01 1e400 -1e400 9007199254740993 null true [] {} "NaN" 1e21'),
  fc.integer({ max: 0 }).map(String),
  fc.double({ noInteger: true, noDefaultInfinity: true, noNaN: true }).map((n) => JSON.stringify(n)),
  fc.bigInt({ min: 2n ** 53n, max: 2n ** 80n }).map(String),
);
const badUserId = fc.oneof(
  words('"" "../fuzz_rich" "a+b" "fuzz_rich;drop" "x:y" 123 null ["fuzz_rich"] "\\u0000"'),
  fc.string({ minLength: 65, maxLength: 80 }).map((s) => JSON.stringify(`a${s.replace(/[^a-z]/g, 'a')}`)),
  fc
    .string({ minLength: 1, maxLength: 10 })
    .filter((s) => !/^[A-Za-z0-9_-]+$/.test(s))
    .map((s) => JSON.stringify(s)),
);
const unknownField = words('userId senderId status balanceFen __proto__ constructor sub scope claimId x');
const badKey = fc.oneof(fc.constantFrom('', 'k'.repeat(256), 'a\tb'), words('clé \u00ff\u00fe'));
const badPacketId = fc.oneof(
  words('nope %2e%2e ..%2Fadmin a%00b %F0%9F%92%B0 a.b a%20b'),
  // Broken percent-escapes: a bad hex pair, a truncated and an overlong UTF-8 sequence, a lone '%'.
  words('%ZZ a%G1 %E0%A4%A %C0%AF %'),
  fc.constant('x'.repeat(65)),
  fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
);
const badQuery = fc.oneof(
  words('limit=0 limit=101 limit=-1 limit=1.5 limit=1e2 limit=abc limit= limit=1&limit=2 limit=%205'),
  words(
    'cursor= cursor=%7B%7D cursor=eyJ2IjoxLCJwIjoxLCJrIjp7fX0 userId=fuzz_rich senderId=fuzz_rich cursor=!!',
  ),
  fc.constant(`cursor=${'A'.repeat(600)}`),
  // Well-formed cursors whose position holds text Postgres cannot store (NUL) or a lone surrogate.
  fc
    .constantFrom('a\\u0000b', '\\u0000', '\\ud800')
    .map(
      (id) => `cursor=${Buffer.from(`{"v":1,"p":2,"k":{"createdUs":1,"id":"${id}"}}`).toString('base64url')}`,
    ),
  fc.base64String({ minLength: 4, maxLength: 40 }).map((s) => `cursor=${encodeURIComponent(s)}`),
);
const notJson = (text: string) => {
  try {
    JSON.parse(text);
    return false;
  } catch {
    return true;
  }
};
const malformedJson = fc.oneof(
  fc.constantFrom('{', '{"amountFen": }', "{'a':1}", 'null', '"x"', '42', '{"a":1}{', '\u0000'),
  fc.constant('['.repeat(3000) + ']'.repeat(3000)),
  fc.string({ maxLength: 50 }).filter(notJson),
);

// ----- bodies with at least one defect: valid fields plus one to three defects -----
const withDefects = (valid: Record<string, string>, defects: fc.Arbitrary<[string, string | undefined]>) =>
  fc.array(defects, { minLength: 1, maxLength: 3 }).map((changes) => {
    // A Map, not an object: a defect named __proto__ must become a field, not a prototype.
    const fields = new Map(Object.entries(valid));
    for (const [name, value] of changes) {
      if (value === undefined) fields.delete(name);
      else fields.set(name, value);
    }
    return `{${[...fields].map(([name, value]) => `${JSON.stringify(name)}:${value}`).join(',')}}`;
  });
const depositBody = withDefects(
  { userId: '"fuzz_victim"', amountFen: '100' },
  fc.oneof(
    badAmount.map((v): [string, string] => ['amountFen', v]),
    badUserId.map((v): [string, string] => ['userId', v]),
    fc.constant<[string, undefined]>(['amountFen', undefined]),
    fc.constant<[string, undefined]>(['userId', undefined]),
    fc.constant<[string, string]>(['amountFen', '10000000001']),
    unknownField.filter((f) => f !== 'userId').map((f): [string, string] => [f, '1']),
  ),
);
const sendBody = withDefects(
  { type: '"random"', amountFen: '100', count: '2' },
  fc.oneof(
    badAmount.map((v): [string, string] => ['amountFen', v]),
    fc
      .constantFrom('0', '-1', '1.5', '"2"', '1001', '101', 'null')
      .map((v): [string, string] => ['count', v]),
    fc.constantFrom('"lucky"', '1', 'null', '"RANDOM"').map((v): [string, string] => ['type', v]),
    fc.constantFrom('20001', '1000000000').map((v): [string, string] => ['amountFen', v]),
    fc.constantFrom(JSON.stringify('x'.repeat(101)), '5', '{}').map((v): [string, string] => ['greeting', v]),
    badUserId.map((v): [string, string] => ['recipientId', v]),
    fc
      .constantFrom('"fuzz_rich"', '[1]', '[""]', '["../x"]', JSON.stringify(Array(1001).fill('u')))
      .map((v): [string, string] => ['audience', v]),
    fc
      .constantFrom('0', '-5', '1.5', '"60"', '99999999')
      .map((v): [string, string] => ['expiresInSeconds', v]),
    unknownField.map((f): [string, string] => [f, '"fuzz_rich"']),
    fc.constant<[string, undefined]>(['type', undefined]),
  ),
);

const anyPath = fc.constantFrom(
  ['POST', '/v1/admin/deposits'],
  ['GET', '/v1/me/balance'],
  ['GET', '/v1/me/bills'],
  ['GET', '/v1/me/packets/sent'],
  ['GET', '/v1/me/packets/received'],
  ['POST', '/v1/packets'],
  ['GET', '/v1/packets/PID'],
  ['POST', '/v1/packets/PID/grab'],
  ['POST', '/v1/packets/PID/open'],
);

export function hostileRequests(target: HostileTarget): fc.Arbitrary<Hostile> {
  const { tokens, restrictedPacketId, bodyLimitBytes } = target;
  return fc.oneof(
    // Bad credentials on any endpoint, with any body.
    fc
      .record({ op: anyPath, token: fc.constantFrom(...tokens.bad, 'Basic Zm9vOmJhcg==', undefined) })
      .map(({ op, token }) => ({
        method: op[0],
        path: op[1].replace('PID', restrictedPacketId),
        auth: token,
        body: op[0] === 'POST' ? '{}' : undefined,
      })),
    // A user token on the admin endpoint.
    depositBody.map((body) => ({
      method: 'POST',
      path: '/v1/admin/deposits',
      auth: tokens.user,
      key: 'k',
      body,
    })),
    fc.constant({
      method: 'POST',
      path: '/v1/admin/deposits',
      auth: tokens.user,
      key: 'k',
      body: '{"userId":"fuzz_user","amountFen":100}',
    }),
    // Admin with a defective body, or a valid body without a usable key.
    fc
      .record({
        body: depositBody,
        key: fc
          .string({ minLength: 1, maxLength: 20 })
          .filter((k) => /^[\x20-\x7e]+$/.test(k) && k.trim() === k),
      })
      .map(({ body, key }) => ({
        method: 'POST',
        path: '/v1/admin/deposits',
        auth: tokens.admin,
        key,
        body,
      })),
    fc.option(badKey, { nil: undefined }).map((key) => ({
      method: 'POST',
      path: '/v1/admin/deposits',
      auth: tokens.admin,
      key,
      body: '{"userId":"fuzz_victim","amountFen":100}',
    })),
    // Sends with defects, from a user with no money, each with the Idempotency-Key a send requires (so the
    // body's defect, not the missing key, is what answers).
    fc.tuple(sendBody, fc.uuid()).map(([body, key]) => ({
      method: 'POST',
      path: '/v1/packets',
      auth: tokens.user,
      key,
      body,
    })),
    // Bad list queries, and ids where none belong.
    fc
      .record({
        op: fc.constantFrom(
          '/v1/me/balance',
          '/v1/me/bills',
          '/v1/me/packets/sent',
          '/v1/me/packets/received',
        ),
        q: badQuery,
      })
      .map(({ op, q }) => ({
        method: 'GET',
        path: `${op}?${q}`,
        auth: tokens.user,
      }))
      .filter((req) => !(req.path.startsWith('/v1/me/balance') && req.path.endsWith('?'))),
    // Packet endpoints on ids that do not exist, are malformed, or belong to a packet offered to others.
    fc
      .record({
        id: fc.oneof(badPacketId, fc.constant('RESTRICTED')),
        action: fc.constantFrom('', '/grab', '/open'),
      })
      .map(({ id, action }) => ({
        method: action ? 'POST' : 'GET',
        path: `/v1/packets/${id === 'RESTRICTED' ? restrictedPacketId : id}${action}`,
        auth: tokens.user,
      })),
    // Grab and open with a body (nothing may be assigned) or a bad key.
    fc
      .record({
        action: fc.constantFrom('grab', 'open'),
        body: fc.constantFrom('{"userId":"fuzz_rich"}', '{"amountFen":1}', '[]'),
        key: fc.option(badKey, { nil: undefined }),
      })
      .map(({ action, body, key }) => ({
        method: 'POST',
        path: `/v1/packets/${restrictedPacketId}/${action}`,
        auth: tokens.user,
        body,
        key,
      })),
    // Bodies that are not JSON, too large, or declared as something else.
    fc
      .record({ op: fc.constantFrom('/v1/admin/deposits', '/v1/packets'), body: malformedJson })
      .map(({ op, body }) => ({ method: 'POST', path: op, auth: tokens.admin, key: 'k', body })),
    fc.constantFrom('/v1/admin/deposits', '/v1/packets').map((op) => ({
      method: 'POST',
      path: op,
      auth: tokens.admin,
      key: 'k',
      body: JSON.stringify({ userId: 'fuzz_victim', amountFen: 100, pad: 'x'.repeat(bodyLimitBytes) }),
    })),
    fc
      .constantFrom('text/plain', 'application/x-www-form-urlencoded', 'application/xml')
      .map((contentType) => ({
        method: 'POST',
        path: '/v1/admin/deposits',
        auth: tokens.admin,
        key: 'k',
        contentType,
        body: '{"userId":"fuzz_victim","amountFen":100}',
      })),
    // Paths and methods that do not exist.
    fc
      .record({ method: fc.constantFrom('PUT', 'DELETE', 'PATCH'), op: anyPath })
      .map(({ method, op }) => ({ method, path: op[1].replace('PID', 'x'), auth: tokens.admin })),
    fc
      .constantFrom(
        '/v1/admin/deposits/../../me/balance',
        '/v1/me',
        '/v1/admin',
        '/v2/me/balance',
        '/v1/me/balance/',
        '/V1/ME/BALANCE',
      )
      .map((path) => ({
        method: 'DELETE',
        path,
        auth: tokens.user,
      })),
  );
}
