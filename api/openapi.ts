/**
 * The contract as OpenAPI 3.1, generated from the zod schemas the routes parse with: `defineRoute` registers
 * each operation here as it mounts it, so a route cannot exist without its document entry (and a test walks
 * the Express router to prove the reverse).
 */
import { OpenApiGeneratorV31, OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import { z } from 'zod';
import type { AppContext } from './context';
import type { ObjectSchema, RouteSpec, Schema } from './pipeline';
import { PROBLEM_CONTENT_TYPE } from './problems';
import { IdempotencyKeySchema } from './validation';

export const BEARER_SCHEME = 'bearerAuth';

export const FieldIssueSchema = z.object({
  field: z.string().meta({ description: 'Dotted path, e.g. `body.amountFen`', example: 'body.amountFen' }),
  code: z.string(),
  message: z.string(),
});

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    code: z.string().meta({ description: 'Stable machine-readable code; switch on this, not on title' }),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(FieldIssueSchema).optional().meta({ description: 'Field issues of `validation_failed`' }),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

/** What each documented error status means, for the docs; the `code` values are listed per status. */
export const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400:
    'validation_failed, malformed_json, invalid_cursor, invalid_path, idempotency_key_invalid, ' +
    'idempotency_key_required',
  401: 'unauthorized: missing, malformed, expired or wrongly signed token',
  402: 'insufficient_funds',
  403: 'forbidden: the token lacks the admin scope',
  404: 'not found (also for resources that exist but are not yours)',
  409: 'idempotency_in_flight, or a state conflict (already_claimed, packet_exhausted, no_hold, transfer_conflict)',
  410: 'packet_expired',
  413: 'body_too_large',
  415: 'unsupported_media_type: send application/json',
  422: 'idempotency_key_reused, or a business rule (limit_exceeded, invalid_amount, audience_unclaimable, ...)',
  429: 'rate_limited; see Retry-After',
  503:
    'region_unavailable (the owning cell is down or unreachable: retry, with the same Idempotency-Key for a ' +
    'POST), service_unavailable (one cell: its database, Redis or Temporal is down, as in a failover), ' +
    'overloaded (load shedding: nothing was done, retry as it is), list_depth_limited, packet_busy or ' +
    'payment_pending; see Retry-After',
};

export function createApiRegistry(): OpenAPIRegistry {
  const registry = new OpenAPIRegistry();
  registry.registerComponent('securitySchemes', BEARER_SCHEME, {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'HS256 JWT: `sub` is the user id, `scope` contains `admin` for admin operations',
  });
  return registry;
}

/** Express path `/v1/packets/:id/grab` as OpenAPI `/v1/packets/{id}/grab`. */
export function openApiPath(expressPath: string): string {
  return expressPath.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

export type OpenApiDocument = ReturnType<OpenApiGeneratorV31['generateDocument']>;

export function generateDocument(registry: OpenAPIRegistry): OpenApiDocument {
  return new OpenApiGeneratorV31(registry.definitions).generateDocument({
    openapi: '3.1.0',
    info: {
      title: 'Red packet API',
      version: '1.0.0',
      description:
        'Errors are RFC 9457 `application/problem+json` with a stable `code`. Every POST accepts ' +
        '`Idempotency-Key` (Stripe semantics; replays carry `Idempotent-Replayed: true`). Lists use keyset ' +
        'pagination with `limit` (1-100, default 20) and an opaque `cursor`.',
    },
  });
}

function documentedProblems<B extends Schema, Q extends ObjectSchema, P extends ObjectSchema>(
  spec: Omit<RouteSpec<B, Q, P>, 'handler'>,
): number[] {
  const statuses = new Set(spec.problems ?? []);
  if (spec.auth !== 'public') [400, 401, 429].forEach((status) => statuses.add(status));
  // Any user operation may meet its Postgres, Redis or Temporal down (a failover's gap): 503, with several
  // cells region_unavailable (api/cells/unavailable.ts).
  if (spec.auth !== 'public') statuses.add(503);
  if (spec.auth === 'admin') statuses.add(403);
  if (spec.body) [400, 413, 415].forEach((status) => statuses.add(status));
  if (spec.method === 'post' && spec.auth !== 'public') [409, 422].forEach((status) => statuses.add(status));
  return [...statuses].sort();
}

export function registerOperation<B extends Schema, Q extends ObjectSchema, P extends ObjectSchema>(
  ctx: AppContext,
  spec: Omit<RouteSpec<B, Q, P>, 'handler'>,
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
