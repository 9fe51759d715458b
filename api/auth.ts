/**
 * Bearer tokens: HS256 JWTs signed with AUTH_SECRET. `sub` is the acting user and `scope` (space-separated,
 * OAuth style) may contain `admin`. The acting user of a request always comes from here, never from a body
 * or path field, so no route can be talked into acting for someone else.
 */
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import type { Request, Response } from 'express';
import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { USER_ID_PATTERN } from '../domain/accounts';
import { Problem } from './problems';

export const ADMIN_SCOPE = 'admin';
export const DEFAULT_TOKEN_TTL_SECONDS = 3_600;
const ALGORITHM = 'HS256';
/** Clocks of the token issuer and the API may disagree by a few seconds. */
const CLOCK_TOLERANCE_SECONDS = 5;
/** Tokens longer than this are refused before any crypto runs; ours are about 200 bytes. */
const TOKEN_MAX_LENGTH = 4_096;

export interface AuthUser {
  id: string;
  admin: boolean;
}

declare module 'express-serve-static-core' {
  interface Request {
    /** Set by `authenticateRequest` for every route that needs a user. */
    user?: AuthUser;
  }
}

const encoder = new TextEncoder();

export async function signToken(
  secret: string,
  userId: string,
  options: { admin?: boolean; ttlSeconds?: number } = {},
): Promise<string> {
  if (!USER_ID_PATTERN.test(userId)) throw new Error(`invalid user id ${JSON.stringify(userId)}`);
  const scopes = options.admin ? ['user', ADMIN_SCOPE] : ['user'];
  return new SignJWT({ scope: scopes.join(' ') })
    .setProtectedHeader({ alg: ALGORITHM, typ: 'JWT' })
    .setSubject(userId)
    .setIssuedAt()
    .setExpirationTime(`${options.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS}s`)
    .sign(encoder.encode(secret));
}

function unauthorized(detail: string, cause?: unknown): Problem {
  return new Problem(401, 'unauthorized', 'Unauthorized', detail, {}, { cause });
}

function scopesOf(claim: unknown): string[] {
  if (typeof claim === 'string') return claim.split(' ').filter(Boolean);
  if (Array.isArray(claim)) return claim.filter((item): item is string => typeof item === 'string');
  return [];
}

export interface VerifiedToken {
  user: AuthUser;
  /** The token's `exp` in milliseconds: a cache may remember the user until then. */
  expiresAtMs: number;
}

/**
 * The header segment `signToken` writes: jose serialises the protected header with JSON.stringify. A token
 * that carries exactly these bytes has no `crit` or `b64` and says HS256, so none of jose's header rules
 * can refuse it and the fast path need not repeat them.
 */
const CANONICAL_HEADER = Buffer.from(JSON.stringify({ alg: ALGORITHM, typ: 'JWT' })).toString('base64url');
const claimsDecoder = new TextDecoder();

/**
 * Verifies a token of exactly the shape `signToken` writes, synchronously with node:crypto, and returns
 * undefined for anything else. jose verifies through several promises and header checks our own tokens
 * never need, and showed in the storm's profile (every client of a storm shows a new token). This only
 * answers when jose would accept the token with the same user and `exp`, so jose stays the authority for
 * anything unusual: every refusal (and every token this is not sure of) goes to jose, which gives the same
 * 401 detail as before.
 */
export function fastVerify(secretKey: KeyObject, token: string, nowMs: number): VerifiedToken | undefined {
  const segments = token.split('.');
  if (segments.length !== 3) return undefined;
  const [header, payload, signature] = segments as [string, string, string];
  if (header !== CANONICAL_HEADER) return undefined;
  // Comparing the canonical base64url text is stricter than jose, which decodes the signature first (and
  // so accepts other spellings of the same bytes); those spellings simply take the jose path. The byte
  // lengths are compared because a non-ASCII signature of the right length is longer in UTF-8.
  const expected = Buffer.from(
    createHmac('sha256', secretKey).update(`${header}.${payload}`).digest('base64url'),
  );
  if (signature.length !== expected.length) return undefined;
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return undefined;
  // The claims are decoded as jose decodes them, and checked by its rules with the options jose is given
  // below: required `sub` and `exp` (an `in` check, as jose does), numeric `iat`, `nbf` and `exp`, and the
  // clock tolerance on both sides of `now`, counted in whole seconds as jose counts it.
  let claims: unknown;
  try {
    claims = JSON.parse(claimsDecoder.decode(Buffer.from(payload, 'base64url')));
  } catch {
    return undefined;
  }
  if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return undefined;
  if (!('sub' in claims) || !('exp' in claims)) return undefined;
  const { sub, exp, iat, nbf, scope } = claims as Record<string, unknown>;
  const now = Math.floor(nowMs / 1000);
  if (iat !== undefined && typeof iat !== 'number') return undefined;
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf > now + CLOCK_TOLERANCE_SECONDS)) return undefined;
  if (typeof exp !== 'number' || exp <= now - CLOCK_TOLERANCE_SECONDS) return undefined;
  if (typeof sub !== 'string' || !USER_ID_PATTERN.test(sub)) return undefined;
  return { user: { id: sub, admin: scopesOf(scope).includes(ADMIN_SCOPE) }, expiresAtMs: exp * 1000 };
}

/** Verifies a token with jose; every failure is a 401 problem that names no secret. */
async function joseVerify(secretKey: KeyObject, token: string): Promise<VerifiedToken> {
  const { payload } = await jwtVerify(token, secretKey, {
    algorithms: [ALGORITHM],
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    requiredClaims: ['sub', 'exp'],
  }).catch((err: unknown) => {
    const detail =
      err instanceof joseErrors.JWTExpired
        ? 'The bearer token has expired.'
        : 'The bearer token is not valid.';
    throw unauthorized(detail, err);
  });
  if (typeof payload.sub !== 'string' || !USER_ID_PATTERN.test(payload.sub)) {
    throw unauthorized('The bearer token names no valid user.');
  }
  return {
    user: { id: payload.sub, admin: scopesOf(payload['scope']).includes(ADMIN_SCOPE) },
    expiresAtMs: (payload.exp ?? 0) * 1000,
  };
}

/**
 * Verifies a token and returns its user and expiry: synchronously when the fast path vouches for it, else
 * through jose. Every failure is a rejected promise holding a 401 problem that names no secret.
 */
function verifyTokenExpiry(secretKey: KeyObject, token: string): VerifiedToken | Promise<VerifiedToken> {
  // The length check comes first, so an oversized token costs neither an HMAC nor a parse on either path.
  if (token.length > TOKEN_MAX_LENGTH) return Promise.reject(unauthorized('The bearer token is too long.'));
  return fastVerify(secretKey, token, Date.now()) ?? joseVerify(secretKey, token);
}

/** Verifies a token and returns its user; every failure is a 401 problem that names no secret. */
export async function verifyToken(secretKey: KeyObject, token: string): Promise<AuthUser> {
  return (await verifyTokenExpiry(secretKey, token)).user;
}

/** Verified tokens remembered per process; the oldest is dropped first. */
export const TOKEN_CACHE_MAX_ENTRIES = 10_000;

export type TokenVerifier = (token: string) => AuthUser | Promise<AuthUser>;

/**
 * A verifier that remembers each verified token until its `exp` (bounded, oldest first out): a client in a
 * storm sends the same token with every request, and an HMAC verification per request showed in profiles.
 * Failures are never remembered, and an expired entry is verified again (so the clock tolerance applies).
 */
export function cachedTokenVerifier(
  secretKey: KeyObject,
  maxEntries = TOKEN_CACHE_MAX_ENTRIES,
): TokenVerifier {
  const verified = new Map<string, VerifiedToken>();
  const remember = (token: string, entry: VerifiedToken): AuthUser => {
    if (verified.size >= maxEntries) {
      // Maps iterate in insertion order, so the first key is the oldest entry.
      const oldest = verified.keys().next().value;
      if (oldest !== undefined) verified.delete(oldest);
    }
    verified.set(token, entry);
    return entry.user;
  };
  return (token) => {
    const hit = verified.get(token);
    if (hit && hit.expiresAtMs > Date.now()) return hit.user;
    if (hit) verified.delete(token);
    // A token the fast path vouches for is answered without a promise, so a miss on one of our own tokens
    // costs the caller no more than a hit.
    const entry = verifyTokenExpiry(secretKey, token);
    return entry instanceof Promise ? entry.then((done) => remember(token, done)) : remember(token, entry);
  };
}

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]+)$/;

/** The token of an `Authorization: Bearer <token>` header, or undefined for any other header. */
export function bearerTokenOf(header: string | undefined): string | undefined {
  return header ? BEARER.exec(header)?.[1] : undefined;
}

/**
 * The verification key, made once: given raw bytes, jose builds a KeyObject on every verification, which
 * showed in the storm's profile (every client's first grab verifies its token).
 */
export const secretKeyOf = (secret: string): KeyObject => createSecretKey(Buffer.from(secret, 'utf8'));

/**
 * The bearer step every user operation takes, the pipeline's and the gated routes' alike (routes/gated.ts):
 * the user of the `Authorization` header's token, or a 401 with a bearer challenge on `res`. Our own tokens
 * verify without a promise (`cachedTokenVerifier`), which the hot lane relies on.
 */
export function authenticateHeader(
  header: string | undefined,
  res: ServerResponse,
  verify: TokenVerifier,
): AuthUser | Promise<AuthUser> {
  const token = bearerTokenOf(header);
  if (!token) {
    challenge(res);
    throw unauthorized(header ? 'Use Authorization: Bearer <token>.' : 'This endpoint needs a bearer token.');
  }
  let verified: AuthUser | Promise<AuthUser>;
  try {
    verified = verify(token);
  } catch (err) {
    challenge(res);
    throw err;
  }
  if (!(verified instanceof Promise)) return verified;
  return verified.catch((err: unknown) => {
    challenge(res);
    throw err;
  });
}

/**
 * Requires a valid bearer token and returns its user (also set as req.user and, for the request log,
 * res.locals.userId). Admin operations also need the admin scope: 403 otherwise.
 */
export async function authenticateRequest(
  req: Request,
  res: Response,
  verify: TokenVerifier,
  options: { admin?: boolean } = {},
): Promise<AuthUser> {
  const user = await authenticateHeader(req.headers.authorization, res, verify);
  req.user = user;
  res.locals['userId'] = user.id;
  if (options.admin && !user.admin) {
    throw new Problem(403, 'forbidden', 'Forbidden', 'This endpoint needs the admin scope.');
  }
  return user;
}

function challenge(res: ServerResponse): void {
  res.setHeader('WWW-Authenticate', 'Bearer realm="redpacket", error="invalid_token"');
}
