/**
 * Every route module the app mounts, in order. A module is a factory `(ctx: AppContext) => Router`; the app
 * mounts each router at the root, so route paths are written in full (`/v1/packets/:id/grab`) and the
 * OpenAPI test can read them back from the router stack. Do not mount a router under a prefix.
 *
 * How a route module gets auth, validation, idempotency, rate limits and its OpenAPI entry: call
 * `defineRoute(ctx, router, spec)` (api/pipeline.ts) once per operation. For example, a packet grab:
 *
 *   defineRoute(ctx, router, {
 *     method: 'post',
 *     path: '/v1/packets/:id/grab',
 *     summary: 'Grab a hold on one share',
 *     tags: ['packets'],
 *     auth: 'user',                          // 'public' | 'user' | 'admin': 401 / 403 handled; user from the token
 *     params: z.strictObject({ id: ResourceIdSchema }),   // zod, strict: 400 validation_failed
 *     body: GrabBody,                        // optional; without one, only an empty body is accepted
 *     rateLimits: ['packet'],                // per-IP and per-user always apply; 'packet' keys on params.id,
 *                                            // 'send' is the global bucket of POST /v1/packets
 *     idempotency: 'optional',               // POST only; 'required' answers 400 without the header
 *     problems: [404, 409, 410],             // statuses the handler's domain errors produce (for the docs)
 *     response: { status: 200, description: 'the hold', schema: HoldSchema },
 *     handler: async ({ params, user, annotate }) => {
 *       annotate({ packetId: params.id });   // packetId / claimId appear in the request log line
 *       const hold = await grab(ctx.redis, params.id, user.id);   // throw DomainError for business failures
 *       ctx.metrics.grabOutcomes.inc({ outcome: 'granted' });
 *       return { status: 200, body: hold };  // return, do not write res: idempotency stores this answer
 *     },
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
