import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { jwtVerify } from 'jose';
import { USER_ID_PATTERN } from '../../domain/accounts';
import {
  ADMIN_SCOPE,
  cachedTokenVerifier,
  fastVerify,
  secretKeyOf,
  signToken,
  verifyToken,
  type VerifiedToken,
} from '../../api/auth';

const SECRET = 'unit-test-secret-0123456789';
const key = secretKeyOf(SECRET);
const BASE_MS = 1_750_000_000_000;

/** The oracle: jose with the options api/auth.ts gives it, then the same user check; undefined when refused. */
async function joseVerdict(token: string, nowMs: number): Promise<VerifiedToken | undefined> {
  try {
    const { payload } = await jwtVerify(token, key, {
      algorithms: ['HS256'],
      clockTolerance: 5,
      requiredClaims: ['sub', 'exp'],
      currentDate: new Date(nowMs),
    });
    if (typeof payload.sub !== 'string' || !USER_ID_PATTERN.test(payload.sub)) return undefined;
    const scope = payload['scope'];
    const scopes = typeof scope === 'string' ? scope.split(' ') : Array.isArray(scope) ? scope : [];
    return {
      user: { id: payload.sub, admin: scopes.includes(ADMIN_SCOPE) },
      expiresAtMs: payload.exp! * 1000,
    };
  } catch {
    return undefined;
  }
}

const hmac = (digest: string, secret: string, data: string): string =>
  createHmac(digest, secret).update(data).digest('base64url');

/** A token signed with node:crypto directly, so headers and payloads signToken would never write are signed too. */
function signRaw(headerSegment: string, payloadSegment: string, secret: string, digest = 'sha256'): string {
  const signingInput = `${headerSegment}.${payloadSegment}`;
  return `${signingInput}.${hmac(digest, secret, signingInput)}`;
}

/** A claim that is absent, a time relative to the verifier's clock (`rel`, in seconds) or a literal value. */
type Claim = { rel: number } | { raw: unknown };
const timeClaim: fc.Arbitrary<Claim> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -8, max: 8 }).map((rel) => ({ rel })) },
  { weight: 2, arbitrary: fc.double({ min: -8, max: 8, noNaN: true }).map((rel) => ({ rel })) },
  { weight: 2, arbitrary: fc.integer({ min: -1e7, max: 1e7 }).map((rel) => ({ rel })) },
  fc.constantFrom<unknown>(undefined, null, 'soon', '9999999999', true, [], {}).map((raw) => ({ raw })),
);
const resolve = (claim: Claim, now: number): unknown => ('rel' in claim ? now + claim.rel : claim.raw);

const validUserId = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);
const sub = fc.oneof(
  { weight: 6, arbitrary: validUserId },
  fc.string(),
  fc.constantFrom<unknown>(undefined, '', 'a:b', 'alice\n', 'x'.repeat(65), null, 42, ['alice'], {
    id: 'alice',
  }),
);
const scope = fc.constantFrom<unknown>(
  undefined,
  'user',
  'user admin',
  ' admin ',
  'administrator',
  ['user', 'admin'],
  ['admin', 3],
  42,
  null,
);
const extraClaims = fc.dictionary(
  fc.constantFrom('iss', 'aud', 'jti', 'sub', 'exp', 'iat', 'nbf', 'scope', '__proto__', 'constructor'),
  fc.jsonValue(),
  { maxKeys: 3 },
);

const claimsPayload = fc
  .record({ sub, exp: timeClaim, iat: timeClaim, nbf: timeClaim, scope, extra: extraClaims })
  .map(({ extra, ...claims }) => (now: number) => {
    const known: Record<string, unknown> = {
      sub: claims.sub,
      scope: claims.scope,
      iat: resolve(claims.iat, now),
      nbf: resolve(claims.nbf, now),
      exp: resolve(claims.exp, now),
    };
    for (const [name, value] of Object.entries(known)) if (value === undefined) delete known[name];
    return Buffer.from(JSON.stringify({ ...extra, ...known }));
  });
const otherPayload = fc.oneof(
  fc.jsonValue().map((value) => Buffer.from(JSON.stringify(value) ?? '')),
  fc.string().map((text) => Buffer.from(text)),
  fc.uint8Array({ maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
  fc
    .constantFrom(
      '',
      '{"sub":"alice","exp":1e400}',
      '{"sub":"alice","exp":9999999999,"sub":"a:b"}',
      '{"sub":"a:b","exp":9999999999,"sub":"alice"}',
      '\uFEFF{"sub":"alice","exp":9999999999}',
      ' {"sub":"alice","exp":9999999999} ',
      '[{"sub":"alice","exp":9999999999}]',
      '{"__proto__":{"sub":"alice","exp":9999999999}}',
      '{"sub":"alice","exp":9999999999,"nbf":1e400}',
    )
    .map((text) => Buffer.from(text)),
  // Invalid UTF-8 inside a string: jose's TextDecoder replaces it, and so must the fast path.
  fc.constant(
    Buffer.concat([
      Buffer.from('{"sub":"alice","exp":9999999999,"x":"'),
      Buffer.from([0xff]),
      Buffer.from('"}'),
    ]),
  ),
);
const payload = fc.oneof(
  { weight: 8, arbitrary: claimsPayload },
  { weight: 2, arbitrary: otherPayload.map((bytes) => () => bytes) },
);

/** Base64url spellings the segments may take: Buffer (and so jose) decodes them all to the same bytes. */
const spelling = fc.constantFrom(
  (bytes: Buffer) => bytes.toString('base64url'),
  (bytes: Buffer) => bytes.toString('base64'),
  (bytes: Buffer) => `${bytes.toString('base64url')}=`,
  (bytes: Buffer) => bytes.toString('base64url').replace(/^(.{4})/, '$1!'),
);
const canonicalHeaderText = JSON.stringify({ alg: 'HS256', typ: 'JWT' });
const header = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ text: canonicalHeaderText, digest: 'sha256' }) },
  fc.constantFrom(
    { text: '{"alg":"HS256"}', digest: 'sha256' },
    { text: '{"typ":"JWT","alg":"HS256"}', digest: 'sha256' },
    { text: '{"alg":"HS256","typ":"JWT","kid":"k1"}', digest: 'sha256' },
    { text: '{"alg":"HS256","typ":"JWS"}', digest: 'sha256' },
    { text: '{"alg":"HS256","typ":"JWT","crit":["b64"],"b64":false}', digest: 'sha256' },
    { text: '{"alg":"HS256","typ":"JWT","crit":["exp"]}', digest: 'sha256' },
    { text: '{"alg":"HS384","typ":"JWT"}', digest: 'sha384' },
    { text: '{"alg":"HS384","typ":"JWT"}', digest: 'sha256' },
    { text: '{"alg":"none","typ":"JWT"}', digest: 'sha256' },
    { text: `${canonicalHeaderText} `, digest: 'sha256' },
    { text: '', digest: 'sha256' },
  ),
);
const secret = fc.oneof(
  { weight: 8, arbitrary: fc.constant(SECRET) },
  fc.constantFrom('another-secret-0123456789', SECRET.slice(0, -1), `${SECRET} `, ''),
);

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
type Mutation = (token: string) => string;
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 10, arbitrary: fc.constant((token: string) => token) },
  fc
    .tuple(fc.nat(2), fc.nat(), fc.constantFrom(...BASE64URL, '=', '.', '+', '/', ' ', 'é', '\u0141'))
    .map(([segment, at, char]) => (token: string) => {
      const parts = token.split('.');
      const part = parts[segment] ?? '';
      const index = part.length === 0 ? 0 : at % part.length;
      parts[segment] = part.slice(0, index) + char + part.slice(index + 1);
      return parts.join('.');
    }),
  fc.constantFrom('=', '==', '.', 'A').map((tail) => (token: string) => token + tail),
  fc.constant((token: string) => `.${token}`),
  fc.nat().map((at) => (token: string) => token.slice(0, at % (token.length + 1))),
  // The same signature bytes spelled otherwise: jose decodes and accepts them, the fast path leaves them to jose.
  fc.nat(3).map((bits) => (token: string) => {
    const last = BASE64URL.indexOf(token.slice(-1));
    return last < 0 ? token : token.slice(0, -1) + BASE64URL[(last & ~3) | bits];
  }),
  fc.constant((token: string) => token.replace(/[-_]/g, (char) => (char === '-' ? '+' : '/'))),
  // A signature character moved past ASCII, low byte kept: Buffer's base64url decoding reads only the low
  // byte, so jose accepts the token; the fast path leaves such spellings to jose.
  fc.nat().map((at) => (token: string) => {
    const start = token.lastIndexOf('.') + 1;
    if (start === token.length) return token;
    const index = start + (at % (token.length - start));
    return (
      token.slice(0, index) + String.fromCharCode(0x100 + token.charCodeAt(index)) + token.slice(index + 1)
    );
  }),
);

const tokenCase = fc.record({
  nowMs: fc.integer({ min: BASE_MS, max: BASE_MS + 86_400_000 }),
  header,
  headerSpelling: fc.oneof(
    { weight: 8, arbitrary: fc.constant((b: Buffer) => b.toString('base64url')) },
    spelling,
  ),
  payload,
  payloadSpelling: fc.oneof(
    { weight: 4, arbitrary: fc.constant((b: Buffer) => b.toString('base64url')) },
    spelling,
  ),
  secret,
  mutation,
});

describe('the token fast path', () => {
  let canonicalHeader: string;

  beforeAll(async () => {
    // The header segment jose writes for signToken, taken from a real token rather than assumed.
    canonicalHeader = (await signToken(SECRET, 'alice')).split('.')[0]!;
    expect(canonicalHeader).toBe(Buffer.from(canonicalHeaderText).toString('base64url'));
  });

  test('answers only when jose accepts with the same user and exp, and always for our own token shape', async () => {
    const seen = { fast: 0, joseOnly: 0, refused: 0 };
    await fc.assert(
      fc.asyncProperty(tokenCase, async (c) => {
        const now = Math.floor(c.nowMs / 1000);
        const headerSegment = c.headerSpelling(Buffer.from(c.header.text));
        const payloadSegment = c.payloadSpelling(c.payload(now));
        const token = c.mutation(signRaw(headerSegment, payloadSegment, c.secret, c.header.digest));
        const fast = fastVerify(key, token, c.nowMs);
        const jose = await joseVerdict(token, c.nowMs);
        if (fast) expect(jose).toEqual(fast);
        // On its own domain (our exact header, our exact HMAC spelling) the fast path agrees with jose both ways.
        const parts = token.split('.');
        const ours =
          parts.length === 3 &&
          parts[0] === canonicalHeader &&
          parts[2] === hmac('sha256', SECRET, `${parts[0]}.${parts[1]}`);
        if (ours) expect(fast).toEqual(jose);
        seen[fast ? 'fast' : jose ? 'joseOnly' : 'refused'] += 1;
      }),
      { numRuns: 2_000 },
    );
    // The generators reach all three outcomes, so the property is not vacuous.
    expect(seen.fast).toBeGreaterThan(100);
    expect(seen.joseOnly).toBeGreaterThan(10);
    expect(seen.refused).toBeGreaterThan(100);
  });

  test('every in-date signToken token takes the fast path, up to the clock tolerance', async () => {
    await fc.assert(
      fc.asyncProperty(
        validUserId,
        fc.boolean(),
        fc.integer({ min: 1, max: 1e7 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        async (userId, admin, ttlSeconds, at) => {
          const token = await signToken(SECRET, userId, { admin, ttlSeconds });
          const { iat, exp } = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
            iat: number;
            exp: number;
          };
          // From ten seconds before issue to the last millisecond the tolerance still admits.
          const fromMs = (iat - 10) * 1000;
          const nowMs = fromMs + Math.floor(at * ((exp + 5) * 1000 - fromMs));
          const expected = { user: { id: userId, admin }, expiresAtMs: exp * 1000 };
          expect(fastVerify(key, token, nowMs)).toEqual(expected);
          expect(await joseVerdict(token, nowMs)).toEqual(expected);
          expect(fastVerify(key, token, (exp + 5) * 1000)).toBeUndefined();
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('verifying through the fast path', () => {
  test('the cached verifier answers our own token without a promise, and refuses a forged one', async () => {
    const verify = cachedTokenVerifier(key);
    const first = verify(await signToken(SECRET, 'alice', { admin: true }));
    expect(first).not.toBeInstanceOf(Promise);
    expect(first).toEqual({ id: 'alice', admin: true });

    const forged = verify(await signToken('another-secret-0123456789', 'alice', { admin: true }));
    expect(forged).toBeInstanceOf(Promise);
    await expect(forged).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
  });

  test('a token the fast path declines is still verified by jose, and then remembered', async () => {
    const verify = cachedTokenVerifier(key);
    const token = signRaw(
      Buffer.from('{"alg":"HS256"}').toString('base64url'),
      Buffer.from(JSON.stringify({ sub: 'bob', exp: Math.floor(Date.now() / 1000) + 60 })).toString(
        'base64url',
      ),
      SECRET,
    );
    const first = verify(token);
    expect(first).toBeInstanceOf(Promise);
    await expect(first).resolves.toEqual({ id: 'bob', admin: false });
    expect(verify(token)).toEqual({ id: 'bob', admin: false });
  });

  test('refusals keep the detail jose gives them', async () => {
    const canonical = (claims: object) =>
      signRaw(
        Buffer.from(canonicalHeaderText).toString('base64url'),
        Buffer.from(JSON.stringify(claims)).toString('base64url'),
        SECRET,
      );
    const now = Math.floor(Date.now() / 1000);
    await expect(verifyToken(key, canonical({ sub: 'bob', exp: now - 6 }))).rejects.toMatchObject({
      status: 401,
      detail: 'The bearer token has expired.',
    });
    await expect(verifyToken(key, canonical({ sub: 'a:b', exp: now + 60 }))).rejects.toMatchObject({
      status: 401,
      detail: 'The bearer token names no valid user.',
    });
    await expect(verifyToken(key, canonical({ exp: now + 60 }))).rejects.toMatchObject({
      status: 401,
      detail: 'The bearer token is not valid.',
    });
    const long = canonical({ sub: 'bob', exp: now + 60, pad: 'x'.repeat(4_096) });
    expect(fastVerify(key, long, Date.now())).toBeDefined();
    await expect(verifyToken(key, long)).rejects.toMatchObject({
      status: 401,
      detail: 'The bearer token is too long.',
    });
  });
});
