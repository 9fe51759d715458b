/**
 * Every route module the app mounts, in order. A module is a factory `(ctx: AppContext) => Router`; the app
 * mounts each router at the root, so route paths are written in full (`/v1/packets/:id/grab`) and the
 * OpenAPI test can read them back from the router stack. Do not mount a router under a prefix.
 *
 * How a route module gets auth, validation, idempotency, rate limits and its OpenAPI entry: call
 * `defineRoute(ctx, router, spec)` (api/pipeline.ts) once per operation. For example, the packet detail
 * (packets.ts):
 *
 *   defineRoute(ctx, router, {
 *     method: 'get',
 *     path: '/v1/packets/:id',               // written in full
 *     summary: 'Packet detail with claims and best luck',
 *     tags: ['packets'],
 *     auth: 'user',                          // 'public' | 'user' | 'admin': 401 / 403 handled; user from the token
 *     params: PacketParams,                  // zod, strict: z.strictObject({ id: PacketIdSchema }); else 400
 *                                            // no `body`: only an empty body is accepted
 *                                            // per-IP and per-user limits always apply; `rateLimits` adds
 *                                            // 'packet' (keys on params.id) or 'send' (one global bucket);
 *                                            // a POST also takes `idempotency: 'optional' | 'required'`
 *     problems: [404],                       // statuses the handler's domain errors produce (for the docs)
 *     response: { status: 200, description: 'the packet', schema: PacketSchema },
 *     handler: async ({ params, user, annotate }) => {
 *       // Throws a DomainError for a business refusal; annotate() adds packetId / claimId to the request's
 *       // log line (printed at LOG_LEVEL debug, or for a 5xx or slow answer: api/logging.ts). It returns
 *       // a Reply and never writes res, so idempotency can store the answer.
 *     },
 *   });
 *
 * Grab and open are the exception: their steps are declared once in gated.ts and mounted with
 * `defineGatedRoute`, so the hot lane (api/hotLane.ts) runs the very same steps.
 *
 * A thrown DomainError becomes its problem (api/errorMapping.ts; not_allowed answers exactly like
 * packet_not_found), a thrown `Problem` is sent as is, anything else is a 500 that releases the idempotency
 * key. Programmatic limits are `await ctx.rateLimits.consume(scope, key)`; `ctx.redisDown()` tells whether
 * Redis is up. Shared clients are on ctx (db, redis, temporal, metrics, config, log); add new ones to AppDeps.
 */
import type { Router } from 'express';
import type { AppContext } from '../context';
import { drainRoutes } from './drain';
import { ledgerRoutes } from './ledger';
import { listRoutes } from './lists';
import { packetRoutes } from './packets';
import { systemRoutes } from './system';

export type RouteFactory = (ctx: AppContext) => Router;

export const routeFactories: RouteFactory[] = [
  systemRoutes,
  ledgerRoutes,
  packetRoutes,
  listRoutes,
  drainRoutes,
];
