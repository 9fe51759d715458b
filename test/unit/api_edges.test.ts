import { jwtVerify } from 'jose';
import { secretKeyOf, signToken, verifyToken } from '../../api/auth';
import { domainProblem } from '../../api/errorMapping';
import { requestHash } from '../../api/idempotency';
import { createMetrics } from '../../api/metrics';
import { decodeCursor, encodeCursor, pageRequest } from '../../api/pagination';
import { Problem } from '../../api/problems';
import { depositKeyOf } from '../../api/routes/ledger';
import { AmountFenSchema, canonicalJson, IdempotencyKeySchema, PageQuerySchema } from '../../api/validation';
import { DEPOSIT_KEY_PATTERN } from '../../ledger/deposits';
import { DomainError, ErrorCode } from '../../domain/errors';
import { z } from 'zod';

const SECRET = 'unit-test-secret-0123456789';
const key = secretKeyOf(SECRET);

describe('amounts', () => {
  test.each([1, 888, Number.MAX_SAFE_INTEGER])('%p fen is accepted', (value) => {
    expect(AmountFenSchema.safeParse(value).success).toBe(true);
  });
  test.each([0, -1, 1.5, Number.MAX_SAFE_INTEGER + 1, '100', null, Infinity, NaN, true, [1]])(
    '%p is refused: amounts are positive safe integers given as numbers',
    (value) => {
      expect(AmountFenSchema.safeParse(value).success).toBe(false);
    },
  );
});

describe('page query', () => {
  test.each(['0', '101', '-1', '1.5', '1e2', ' 5', '', 'abc'])('limit %p is refused', (limit) => {
    expect(PageQuerySchema.safeParse({ limit }).success).toBe(false);
  });
  test('limit is parsed to a number and unknown parameters are refused', () => {
    expect(PageQuerySchema.parse({ limit: '100' })).toEqual({ limit: 100 });
    expect(PageQuerySchema.safeParse({ userId: 'bob' }).success).toBe(false);
  });
});

describe('idempotency keys', () => {
  test('1-255 printable ASCII characters are accepted, others refused', () => {
    expect(IdempotencyKeySchema.safeParse('a').success).toBe(true);
    expect(IdempotencyKeySchema.safeParse('x'.repeat(255)).success).toBe(true);
    expect(IdempotencyKeySchema.safeParse('').success).toBe(false);
    expect(IdempotencyKeySchema.safeParse('x'.repeat(256)).success).toBe(false);
    expect(IdempotencyKeySchema.safeParse('caf\u00e9').success).toBe(false);
    expect(IdempotencyKeySchema.safeParse('a\tb').success).toBe(false);
  });

  test('the request hash ignores key order but not values, method or path', () => {
    const base = requestHash('POST', '/v1/x', { a: 1, b: { c: 2, d: [1, 2] } });
    expect(requestHash('post', '/v1/x', { b: { d: [1, 2], c: 2 }, a: 1 })).toBe(base);
    expect(requestHash('POST', '/v1/x', { a: 2, b: { c: 2, d: [1, 2] } })).not.toBe(base);
    expect(requestHash('POST', '/v1/y', { a: 1, b: { c: 2, d: [1, 2] } })).not.toBe(base);
    expect(requestHash('POST', '/v1/x', { a: 1, b: { c: 2, d: [2, 1] } })).not.toBe(base);
    expect(canonicalJson({ z: undefined, a: null })).toBe('{"a":null}');
  });

  test('deposit keys derived from any idempotency key satisfy the ledger key format', () => {
    expect(depositKeyOf('a'.repeat(64), ' '.repeat(255))).toMatch(DEPOSIT_KEY_PATTERN);
    expect(depositKeyOf('admin1', 'k')).not.toBe(depositKeyOf('admin2', 'k'));
  });
});

describe('cursors', () => {
  const Position = z.strictObject({ seq: z.int().min(1) });
  const pressure = (underPressure: boolean) => ({
    lists: { underPressure, maxPagesUnderPressure: 2, retryAfterSeconds: 7 },
    underPressure: () => underPressure,
  });

  test('a cursor round-trips its page and position', () => {
    expect(decodeCursor(Position, encodeCursor(3, { seq: 42 }))).toEqual({ page: 3, position: { seq: 42 } });
  });

  const b64 = (text: string) => Buffer.from(text).toString('base64url');
  test.each([
    ['not base64url', 'not base64!'],
    ['a position of the wrong type', b64('{"v":1,"p":2,"k":{"seq":"1"}}')],
    ['page 1 (which has no cursor)', b64('{"v":1,"p":1,"k":{"seq":1}}')],
    ['an unknown version', b64('{"v":2,"p":2,"k":{"seq":1}}')],
    ['an extra field', b64('{"v":1,"p":2,"k":{"seq":1},"user":"bob"}')],
    ['not an object', b64('[1,2]')],
    ['not JSON', b64('nope')],
    ['too long', 'A'.repeat(600)],
  ])('a cursor that is %s is a 400 invalid_cursor', (_label, cursor) => {
    expect(() => decodeCursor(Position, cursor)).toThrow(
      expect.objectContaining({ status: 400, code: 'invalid_cursor' }),
    );
  });

  // Postgres text cannot hold NUL: such a cursor reached the list query and answered 500 (issue 13).
  const ListPosition = z.strictObject({ createdUs: z.int().min(0), id: z.string().min(1).max(64) });
  test.each([
    ['a NUL in a string', b64('{"v":1,"p":2,"k":{"createdUs":1,"id":"a\\u0000b"}}')],
    ['a lone surrogate in a string', b64('{"v":1,"p":2,"k":{"createdUs":1,"id":"\\udc00"}}')],
  ])('a cursor with %s is a 400 invalid_cursor', (_label, cursor) => {
    expect(() => decodeCursor(ListPosition, cursor)).toThrow(
      expect.objectContaining({ status: 400, code: 'invalid_cursor' }),
    );
  });

  test('a cursor whose id holds other Unicode still round-trips', () => {
    const position = { createdUs: 1, id: '红包-😀' };
    expect(decodeCursor(ListPosition, encodeCursor(2, position)).position).toEqual(position);
  });

  test('under pressure the third page is refused with Retry-After', () => {
    const third = encodeCursor(3, { seq: 5 });
    expect(pageRequest(Position, { cursor: third }, pressure(false)).page).toBe(3);
    expect(pageRequest(Position, { cursor: encodeCursor(2, { seq: 5 }) }, pressure(true)).page).toBe(2);
    let refused: unknown;
    try {
      pageRequest(Position, { cursor: third }, pressure(true));
    } catch (err) {
      refused = err;
    }
    expect(refused).toBeInstanceOf(Problem);
    expect(refused).toMatchObject({
      status: 503,
      code: 'list_depth_limited',
      headers: { 'Retry-After': '7' },
    });
  });
});

describe('domain errors as problems', () => {
  test.each([
    [ErrorCode.InsufficientFunds, 402, 'insufficient_funds'],
    [ErrorCode.PacketNotFound, 404, 'packet_not_found'],
    [ErrorCode.PacketExpired, 410, 'packet_expired'],
    [ErrorCode.PacketExhausted, 409, 'packet_exhausted'],
    [ErrorCode.AlreadyClaimed, 409, 'already_claimed'],
    [ErrorCode.NoHold, 409, 'no_hold'],
    [ErrorCode.TransferConflict, 409, 'transfer_conflict'],
    [ErrorCode.LimitExceeded, 422, 'limit_exceeded'],
    [ErrorCode.InvalidAmount, 422, 'invalid_amount'],
  ])('%s is %d', (code, status, problemCode) => {
    expect(domainProblem(new DomainError(code, 'x'))).toMatchObject({ status, code: problemCode });
  });

  test('a busy packet is a 503 with Retry-After: it passes on its own', () => {
    const busy = domainProblem(new DomainError(ErrorCode.PacketBusy, 'queue full'));
    expect(busy).toMatchObject({ status: 503, code: 'packet_busy', headers: { 'Retry-After': '1' } });
  });

  test('not_allowed answers exactly like packet_not_found, so existence cannot be probed', () => {
    const hidden = domainProblem(new DomainError(ErrorCode.NotAllowed, 'user bob is not in the audience'));
    const missing = domainProblem(new DomainError(ErrorCode.PacketNotFound, 'packet p1 does not exist'));
    expect(hidden.body('/v1/packets/p1')).toEqual(missing.body('/v1/packets/p1'));
  });
});

describe('tokens', () => {
  test('a signed token carries the user and the admin scope', async () => {
    const token = await signToken(SECRET, 'alice', { admin: true, ttlSeconds: 60 });
    const { payload } = await jwtVerify(token, key);
    expect(payload).toMatchObject({ sub: 'alice', scope: 'user admin' });
    expect(payload.exp! - payload.iat!).toBe(60);
    await expect(verifyToken(key, token)).resolves.toEqual({ id: 'alice', admin: true });
  });

  test('a plain token is not admin, and another secret is refused', async () => {
    await expect(verifyToken(key, await signToken(SECRET, 'bob'))).resolves.toEqual({
      id: 'bob',
      admin: false,
    });
    const foreign = await signToken('another-secret-0123456789', 'bob');
    await expect(verifyToken(key, foreign)).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
  });

  test('user ids that could forge another id cannot be signed', async () => {
    await expect(signToken(SECRET, 'a:b')).rejects.toThrow();
  });
});

describe('metrics', () => {
  test('each registry is fresh, so two apps in one process do not collide', async () => {
    const first = createMetrics();
    const second = createMetrics();
    first.grabOutcomes.inc({ outcome: 'granted' });
    expect(await first.registry.getSingleMetricAsString('redpacket_grab_outcomes_total')).toContain(
      'outcome="granted"} 1',
    );
    expect(await second.registry.getSingleMetricAsString('redpacket_grab_outcomes_total')).not.toContain(
      'granted',
    );
  });
});
