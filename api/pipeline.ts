/**
 * The request pipeline: `defineRoute` mounts one operation with every cross-cutting rule applied in a fixed
 * order, and registers the same schemas in the OpenAPI document (openapi.ts `registerOperation`), so the
 * contract and the code cannot drift:
 *
 *   1. bearer authentication (401/403; verified tokens are remembered until they expire)
 *   2. strict zod parsing of params, query and body (400 validation_failed; 415 for a non-JSON body)
 *   3. rate limits in one Redis round trip: per IP, per user, and per packet or the global send bucket when
 *      the spec asks (429 + Retry-After). A request refused at 1 or 2 still pays its IP (and user) limit.
 *      (Grab and open's declared steps hand the same limits to their gate script instead: routes/gated.ts.)
 *   4. for POST: Idempotency-Key (replay, 409 in flight, 422 reused; see idempotentReplay.ts)
 *   5. the handler, which returns a reply (reply.ts) instead of writing to `res`, so its answer can be stored
 *
 * Public operations (health, metrics, docs) skip 1 and 3. Refusals (4xx problems) are answered here, with
 * no stack trace built (problems.ts), and 5xx go on to the error handler, which logs them.
 *
 * Grab and open are mounted by `defineGatedRoute` instead, from their declaration (routes/gated.ts), which
 * the hot lane (hotLane.ts) is built from too: the same rules as steps of their own.
 */
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import type { Logger } from '../config/logger';
import { authenticateRequest, type AuthUser } from './auth';
import type { AppContext } from './context';
import { idempotencyKeyOf, idempotent } from './idempotentReplay';
import { registerOperation } from './openapi';
import { Problem } from './problems';
import { GLOBAL_KEY, type LimitCheck } from './rateLimits';
import { outgoing, send, sendRefusal, type Reply } from './reply';
import {
  GATED_ROUTES,
  GatedCall,
  PacketParams,
  runSteps,
  type GatedActionName,
  type GatedDeclaration,
} from './routes/gated';
import { parseInput } from './validation';

export type Schema = z.ZodType | undefined;
export type ObjectSchema = z.ZodObject | undefined;
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export interface RouteInput<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  /** The token's user; throws on public routes, which have none. */
  user: AuthUser;
  /** The validated Idempotency-Key of a POST, when the client sent one. */
  idempotencyKey: string | undefined;
  req: Request;
  res: Response;
  log: Logger;
  /** Adds ids (packetId, claimId) to this request's log line. */
  annotate: (fields: Record<string, string | number>) => void;
}

export interface RouteSpec<B extends Schema, Q extends ObjectSchema, P extends ObjectSchema> {
  method: 'get' | 'post';
  /** Express syntax (`/v1/packets/:id`); the document shows `{id}`. */
  path: string;
  summary: string;
  description?: string;
  tags: string[];
  auth: 'public' | 'user' | 'admin';
  body?: B;
  query?: Q;
  params?: P;
  response: { status: number; description: string; schema?: z.ZodType; contentType?: string };
  /** Error statuses the handler itself may answer (domain errors); the generic ones are added. */
  problems?: number[];
  /** `packet` limits by `params.id`; `send` is one global bucket (POST /v1/packets). */
  rateLimits?: ('packet' | 'send')[];
  /** POST only. `required` refuses a POST without the header (400 idempotency_key_required). */
  idempotency?: 'optional' | 'required';
  handler(input: RouteInput<Out<B>, Out<Q>, Out<P>>): Promise<Reply>;
}

const EMPTY = z.strictObject({});
// Built once: a zod schema per request is garbage on the grab path, which has no body.
const NO_BODY = EMPTY.optional();

export function defineRoute<
  B extends Schema = undefined,
  Q extends ObjectSchema = undefined,
  P extends ObjectSchema = undefined,
>(ctx: AppContext, router: Router, spec: RouteSpec<B, Q, P>): void {
  if (spec.rateLimits?.includes('packet') && !spec.params?.shape['id']) {
    throw new Error(`${spec.path}: the packet rate limit keys on params.id`);
  }
  registerOperation(ctx, spec);

  router[spec.method](spec.path, async (req, res) => {
    try {
      await handle(ctx, spec, req, res);
    } catch (err) {
      // Refusals are answered here rather than through Express's error chain: in a storm they are most of
      // the traffic. 5xx and the unexpected go on to the error handler, which logs them.
      if (!sendRefusal(res, err, req.originalUrl)) throw err;
    }
  });
}

async function handle<B extends Schema, Q extends ObjectSchema, P extends ObjectSchema>(
  ctx: AppContext,
  spec: RouteSpec<B, Q, P>,
  req: Request,
  res: Response,
): Promise<void> {
  let user: AuthUser | undefined;
  const checks: LimitCheck[] = [];
  if (spec.auth !== 'public') {
    checks.push({ scope: 'ip', key: req.ip ?? 'unknown' });
    try {
      user = await authenticateRequest(req, res, ctx.verifyToken, { admin: spec.auth === 'admin' });
    } catch (err) {
      // Token guessing pays the IP limit like any request, before its 401.
      await ctx.rateLimits.consumeAll(checks);
      throw err;
    }
    checks.push({ scope: 'user', key: user.id });
  }
  let params: Out<P>;
  let query: Out<Q>;
  let body: Out<B>;
  try {
    ({ params, query, body } = parseRequest(spec, req));
  } catch (err) {
    await ctx.rateLimits.consumeAll(checks);
    throw err;
  }
  if (user) {
    const packetId = (params as { id?: string } | undefined)?.id;
    if (spec.rateLimits?.includes('packet') && packetId) checks.push({ scope: 'packet', key: packetId });
    if (spec.rateLimits?.includes('send')) checks.push({ scope: 'send', key: GLOBAL_KEY });
    await ctx.rateLimits.consumeAll(checks);
  }

  const withKey = spec.method === 'post' && user !== undefined;
  const idempotencyKey = withKey ? idempotencyKeyOf(req, spec.idempotency ?? 'optional') : undefined;
  const input: RouteInput<Out<B>, Out<Q>, Out<P>> = {
    body,
    query,
    params,
    get user(): AuthUser {
      if (!user) throw new Error(`${spec.path} is public and has no user`);
      return user;
    },
    idempotencyKey,
    req,
    res,
    get log(): Logger {
      return (req as { log?: Logger }).log ?? ctx.log;
    },
    annotate: (fields) => Object.assign(res.locals, fields),
  };
  const run = async () => outgoing(await spec.handler(input), spec.response.status);
  if (idempotencyKey && user) return idempotent(ctx, req, res, user, idempotencyKey, run);
  send(res, await run());
}

function parseRequest<B extends Schema, Q extends ObjectSchema, P extends ObjectSchema>(
  spec: RouteSpec<B, Q, P>,
  req: Request,
): { params: Out<P>; query: Out<Q>; body: Out<B> } {
  const hasBody = req.body !== undefined || (req.headers['content-length'] ?? '0') !== '0';
  if (hasBody && spec.body && !req.is('application/json')) {
    throw new Problem(
      415,
      'unsupported_media_type',
      'Unsupported media type',
      'Send the body as application/json.',
    );
  }
  return {
    params: (spec.params ? parseInput(spec.params, req.params, 'params') : undefined) as Out<P>,
    query: parseInput(spec.query ?? EMPTY, req.query, 'query') as Out<Q>,
    body: (spec.body
      ? parseInput(spec.body, req.body, 'body')
      : parseInput(NO_BODY, req.body, 'body')) as Out<B>,
  };
}

/** What a gated route's document says beyond what its declaration fixes (auth, params, limits, idempotency). */
export type GatedRouteDocs = Pick<
  RouteSpec<undefined, undefined, undefined>,
  'summary' | 'description' | 'tags'
> & {
  problems: number[];
  response: RouteSpec<undefined, undefined, undefined>['response'];
};

/** A request refused while admitted pays the limits gathered so far, as any request the pipeline refuses. */
export async function admitOrCharge(
  ctx: AppContext,
  declaration: GatedDeclaration,
  call: GatedCall,
): Promise<void> {
  try {
    await runSteps(declaration.admit, call);
  } catch (err) {
    await ctx.rateLimits.consumeAll(call.checks);
    throw err;
  }
}

/** Mounts grab or open on Express from its declaration (ctx.gated), and registers it in the document. */
export function defineGatedRoute(
  ctx: AppContext,
  router: Router,
  action: GatedActionName,
  docs: GatedRouteDocs,
): void {
  const path = GATED_ROUTES[action];
  const responseStatus = docs.response.status;
  registerOperation(ctx, {
    ...docs,
    method: 'post',
    path,
    auth: 'user',
    params: PacketParams,
    rateLimits: ['packet'],
    idempotency: 'optional',
  });
  router.post(path, async (req, res) => {
    const hasExtra = req.body !== undefined || Object.keys(req.query).length > 0;
    const call = new GatedCall(
      action,
      req.params.id,
      req.headers.authorization,
      req.ip ?? 'unknown',
      hasExtra ? { query: req.query, body: req.body } : undefined,
      res,
      res.locals,
    );
    try {
      await admitOrCharge(ctx, ctx.gated, call);
      const user = call.user as AuthUser;
      const idempotencyKey = idempotencyKeyOf(req, 'optional');
      const run = async () => {
        await runSteps(ctx.gated.act, call);
        return outgoing(call.reply as Reply, responseStatus);
      };
      if (idempotencyKey) return await idempotent(ctx, req, res, user, idempotencyKey, run);
      send(res, await run());
    } catch (err) {
      if (!sendRefusal(res, err, req.originalUrl)) throw err;
    }
  });
}
