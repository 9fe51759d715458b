/**
 * Every route module the app mounts, in order. A module is a factory `(ctx: AppContext) => Router`; the app
 * mounts each router at the root, so route paths are written in full (`/v1/packets/:id/grab`) and the
 * OpenAPI test can read them back from the router stack. Do not mount a router under a prefix.
 *
 * How a route module gets auth, validation, idempotency, rate limits and its OpenAPI entry: call
 * `defineRoute(ctx, router, spec)` (api/pipeline.ts) once per operation. For example, the packet grab
 * (packets.ts; grab and open share their options as GATED, and their actions live in gated.ts, which the hot
 * lane calls too):
 *
 *   defineRoute(ctx, router, {
 *     method: 'post',
 *     path: GATED_ROUTES.grab,              // '/v1/packets/:id/grab', written in full
 *     summary: 'Grab a hold on one share',
 *     tags: ['packets'],
 *     auth: 'user',                          // 'public' | 'user' | 'admin': 401 / 403 handled; user from the token
 *     params: PacketParams,                  // zod, strict: z.strictObject({ id: PacketIdSchema }); else 400
 *                                            // no `body`: only an empty body is accepted
 *     rateLimits: ['packet'],                // per-IP and per-user always apply; 'packet' keys on params.id,
 *                                            // 'send' is the global bucket of POST /v1/packets
 *     limitsInGate: true,                    // the handler passes `limits` to the gate script (one round trip)
 *                                            // instead of the pipeline consuming them first
 *     idempotency: 'optional',               // POST only; 'required' answers 400 without the header
 *     problems: [404, 409, 410],             // statuses the handler's domain errors produce (for the docs)
 *     response: { status: 200, description: 'the hold', schema: HoldSchema },
 *     handler: ({ params, user, limits, annotate }) =>
 *       // Throws a DomainError for a business refusal; annotate() adds packetId / claimId to the request's
 *       // log line (printed at LOG_LEVEL debug, or for a 5xx or slow answer: api/logging.ts). It returns
 *       // a Reply and never writes res, so idempotency can store the answer.
 *       gated.grab({ packetId: params.id, userId: user.id, limits, annotate }),
 *   });
 *
 * A thrown DomainError becomes its problem (api/errorMapping.ts; not_allowed answers exactly like
 * packet_not_found), a thrown `Problem` is sent as is, anything else is a 500 that releases the idempotency
 * key. Programmatic limits (e.g. the strict fallback limit while Redis is down) are
 * `await ctx.rateLimits.consume('packetDegraded', packetId)`; `ctx.redisDown()` tells whether to use it.
 * Shared clients are on ctx (db, redis, temporal, metrics, config, log); add new ones to AppDeps.
 */
import type { Router } from 'express';
import type { AppContext } from '../context';
import { ledgerRoutes } from './ledger';
import { listRoutes } from './lists';
import { packetRoutes } from './packets';
import { systemRoutes } from './system';

export type RouteFactory = (ctx: AppContext) => Router;

export const routeFactories: RouteFactory[] = [systemRoutes, ledgerRoutes, packetRoutes, listRoutes];
