/**
 * `defineRoute` mounts one operation with every cross-cutting rule applied in a fixed order, and registers
 * the same schemas in the OpenAPI document, so the contract and the code cannot drift:
 *
 *   1. bearer authentication (401/403; verified tokens are remembered until they expire)
 *   2. strict zod parsing of params, query and body (400 validation_failed; 415 for a non-JSON body)
 *   3. rate limits in one Redis round trip: per IP, per user, and per packet or the global send bucket when
 *      the spec asks (429 + Retry-After). A request refused at 1 or 2 still pays its IP (and user) limit.
 *      Grab and open (`limitsInGate`) pass the same limits to their gate script instead, before the gate.
 *   4. for POST: Idempotency-Key (replay, 409 in flight, 422 reused; see idempotency.ts)
 *   5. the handler, which returns a reply instead of writing to `res`, so its answer can be stored
 *
 * Public operations (health, metrics, docs) skip 1 and 3. Refusals (4xx problems) are answered here, with
 * no stack trace built (problems.ts), and 5xx go on to the error handler, which logs them.
 */
import type { Request, Response, Router } from 'express';
import { z } from 'zod';
import type { Logger } from '../config/logger';
import { authenticateRequest, type AuthUser } from './auth';
import type { AppContext } from './context';
import { toProblem } from './errorMapping';
import { requestHash, type StoredResponse } from './idempotency';
import { BEARER_SCHEME, openApiPath, ProblemSchema, PROBLEM_DESCRIPTIONS } from './openapi';
import { Problem, PROBLEM_CONTENT_TYPE } from './problems';
import { GLOBAL_KEY, type LimitCheck } from './rateLimits';
import { IdempotencyKeySchema, parseInput } from './validation';

type Schema = z.ZodType | undefined;
type ObjectSchema = z.ZodObject | undefined;
type Out<S> = S extends z.ZodType ? z.output<S> : undefined;

export type Reply =
  | { status?: number; headers?: Record<string, string>; body: unknown }
  | { status?: number; headers?: Record<string, string>; raw: string | Buffer; contentType: string };

export interface RouteInput<B, Q, P> {
  body: B;
  query: Q;
  params: P;
  /** The token's user; throws on public routes, which have none. */
  user: AuthUser;
  /** The validated Idempotency-Key of a POST, when the client sent one. */
  idempotencyKey: string | undefined;
  /**
   * With `limitsInGate`: this request's rate limits (IP, user, packet), which the handler must have its gate
   * script check (`ctx.rateLimits.forGate`) or, when the script cannot run, check itself
   * (`ctx.rateLimits.consumeLocally`). Empty otherwise: route.ts has checked them.
   */
  limits: readonly LimitCheck[];
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
  /** `packet` limits by `params.id` (grab, open); `send` is one global bucket (POST /v1/packets). */
  rateLimits?: ('packet' | 'send')[];
  /**
   * The handler checks the rate limits in its own Redis script (grab, open: one round trip for limits and
   * gate) instead of route.ts checking them first; see `RouteInput.limits`.
   */
  limitsInGate?: boolean;
  /** POST only. `required` refuses a POST without the header (400 idempotency_key_required). */
  idempotency?: 'optional' | 'required';
  handler(input: RouteInput<Out<B>, Out<Q>, Out<P>>): Promise<Reply>;
}

const JSON_TYPE = 'application/json; charset=utf-8';
const EMPTY = z.strictObject({});

function outgoing(reply: Reply, defaultStatus: number): StoredResponse {
  const status = reply.status ?? defaultStatus;
  if ('raw' in reply) {
    const body = typeof reply.raw === 'string' ? Buffer.from(reply.raw, 'utf8') : reply.raw;
    return { status, headers: { ...reply.headers, 'content-type': reply.contentType }, body };
  }
  return {
    status,
    headers: { ...reply.headers, 'content-type': JSON_TYPE },
    body: Buffer.from(JSON.stringify(reply.body)),
  };
}

function problemOutgoing(problem: Problem, instance: string): StoredResponse {
  return {
    status: problem.status,
    headers: { ...problem.headers, 'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8` },
    body: Buffer.from(JSON.stringify(problem.body(instance))),
  };
}

function send(res: Response, response: StoredResponse): void {
  // GETs go through res.send for their ETag and 304; hashing every POST answer for an ETag is wasted work.
  if (res.req.method === 'GET' || res.req.method === 'HEAD') {
    res.status(response.status).set(response.headers).send(response.body);
    return;
  }
  res.statusCode = response.status;
  for (const [name, value] of Object.entries(response.headers)) res.setHeader(name, value);
  res.setHeader('Content-Length', response.body.length);
  res.end(response.body);
}

function idempotencyKeyOf(req: Request, mode: 'optional' | 'required'): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) {
    if (mode === 'optional') return undefined;
    throw new Problem(
      400,
      'idempotency_key_required',
      'Idempotency-Key required',
      'This POST needs an Idempotency-Key header.',
    );
  }
  const parsed = IdempotencyKeySchema.safeParse(raw);
  if (!parsed.success) {
    throw new Problem(
      400,
      'idempotency_key_invalid',
      'Invalid Idempotency-Key',
      'Use 1-255 printable ASCII characters.',
    );
  }
  return parsed.data;
}

/** Runs `run` under the key: replays a stored answer, refuses conflicts, stores what `run` answers. */
async function idempotent(
  ctx: AppContext,
  req: Request,
  res: Response,
  user: AuthUser,
  key: string,
  run: () => Promise<StoredResponse>,
): Promise<void> {
  const begun = await ctx.idempotency.begin(user.id, key, requestHash(req.method, req.path, req.body));
  ctx.metrics.idempotency.inc({ outcome: begun.kind });
  if (begun.kind === 'replay') return send(res.set('Idempotent-Replayed', 'true'), begun.response);
  if (begun.kind === 'reused') {
    throw new Problem(
      422,
      'idempotency_key_reused',
      'Idempotency-Key reused',
      'This key was used with a different request.',
    );
  }
  if (begun.kind === 'in_flight') {
    throw new Problem(
      409,
      'idempotency_in_flight',
      'Request in flight',
      'The first request with this key is still running.',
    ).withHeader('Retry-After', '1');
  }
  let response: StoredResponse;
  try {
    response = await run();
  } catch (err) {
    const problem = toProblem(err);
    // A 429 from a gate script's limits is not the answer to this key: a retry must run again.
    if (!problem || problem.status >= 500 || problem.status === 429) {
      await ctx.idempotency.release(user.id, key, begun.ownerToken);
      throw err;
    }
    response = problemOutgoing(problem, req.originalUrl);
  }
  if (response.status >= 500) await ctx.idempotency.release(user.id, key, begun.ownerToken);
  else await ctx.idempotency.complete(user.id, key, begun.ownerToken, response);
  send(res, response);
}

function documentedProblems<B extends Schema, Q extends ObjectSchema, P extends ObjectSchema>(
  spec: RouteSpec<B, Q, P>,
): number[] {
  const statuses = new Set(spec.problems ?? []);
  if (spec.auth !== 'public') [400, 401, 429].forEach((status) => statuses.add(status));
  if (spec.auth === 'admin') statuses.add(403);
  if (spec.body) [400, 413, 415].forEach((status) => statuses.add(status));
  if (spec.method === 'post' && spec.auth !== 'public') [409, 422].forEach((status) => statuses.add(status));
  return [...statuses].sort();
}

function register<B extends Schema, Q extends ObjectSchema, P extends ObjectSchema>(
  ctx: AppContext,
  spec: RouteSpec<B, Q, P>,
): void {
  const responses: Record<string, { description: string; content?: Record<string, { schema: z.ZodType }> }> =
    {
      [spec.response.status]: {
        description: spec.response.description,
        ...(spec.response.schema
          ? {
              content: {
                [spec.response.contentType ?? 'application/json']: { schema: spec.response.schema },
              },
            }
          : {}),
      },
    };
  for (const status of documentedProblems(spec)) {
    responses[status] = {
      description: PROBLEM_DESCRIPTIONS[status] ?? 'problem',
      content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } },
    };
  }
  const withKey = spec.method === 'post' && spec.auth !== 'public';
  ctx.openapi.registerPath({
    method: spec.method,
    path: openApiPath(spec.path),
    summary: spec.summary,
    ...(spec.description ? { description: spec.description } : {}),
    tags: spec.tags,
    ...(spec.auth === 'public'
      ? {}
      : { security: [{ [BEARER_SCHEME]: spec.auth === 'admin' ? ['admin'] : [] }] }),
    request: {
      ...(spec.params ? { params: spec.params } : {}),
      ...(spec.query ? { query: spec.query } : {}),
      ...(withKey
        ? {
            headers: z.object({
              'idempotency-key':
                spec.idempotency === 'required' ? IdempotencyKeySchema : IdempotencyKeySchema.optional(),
            }),
          }
        : {}),
      ...(spec.body
        ? { body: { required: true, content: { 'application/json': { schema: spec.body } } } }
        : {}),
    },
    responses,
  });
}

export function defineRoute<
  B extends Schema = undefined,
  Q extends ObjectSchema = undefined,
  P extends ObjectSchema = undefined,
>(ctx: AppContext, router: Router, spec: RouteSpec<B, Q, P>): void {
  if (spec.rateLimits?.includes('packet') && !spec.params?.shape['id']) {
    throw new Error(`${spec.path}: the packet rate limit keys on params.id`);
  }
  register(ctx, spec);

  router[spec.method](spec.path, async (req, res) => {
    try {
      await handle(ctx, spec, req, res);
    } catch (err) {
      // Refusals are answered here rather than through Express's error chain: in a storm they are most of
      // the traffic. 5xx and the unexpected go on to the error handler, which logs them.
      const problem = toProblem(err);
      if (!problem || problem.status >= 500 || res.headersSent) throw err;
      send(res, problemOutgoing(problem, req.originalUrl));
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
    if (!spec.limitsInGate) await ctx.rateLimits.consumeAll(checks);
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
    limits: spec.limitsInGate ? checks : [],
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
      : parseInput(EMPTY.optional(), req.body, 'body')) as Out<B>,
  };
}
