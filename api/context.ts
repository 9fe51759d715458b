/**
 * What the app is built from (`AppDeps`: clients the caller owns and closes) and what every route factory
 * receives (`AppContext`: the deps plus the API's own services, built once per app). Adding a dependency
 * means adding a field to AppDeps; it appears on the context automatically. The context is the cell's one
 * value the packet use cases take (packets/runtime/services.ts `PacketCell`): two apps built from two deps
 * share nothing, so two cells can live in one process.
 */
import type { OpenAPIRegistry } from '@asteasolutions/zod-to-openapi';
import type { Config } from '../config';
import type { Logger } from '../config/logger';
import type { Db } from '../db';
import type { RedisDeps } from '../redis';
import { createPacketServices, type PacketServices } from '../packets/runtime/services';
import type { TemporalDeps } from '../temporal/client';
import type { Tracing } from '../tracing';
import { createDrainSwitch, type DrainSwitch } from './cells/drain';
import type { CellRouting } from './cells/router';
import { cachedTokenVerifier, secretKeyOf, type TokenVerifier } from './auth';
import { createIdempotencyStore, type IdempotencyStore } from './idempotency';
import { createMetrics, type Metrics } from './metrics';
import { createApiRegistry } from './openapi';
import type { PressureSource } from './overload/pressure';
import { createOverloadGuard, type OverloadGuard } from './overload/shedder';
import { createRateLimits, type RateLimits } from './rateLimits';
import { gatedDeclaration, type GatedDeclaration } from './routes/gated';

export interface AppDeps {
  config: Config;
  log: Logger;
  db: Db;
  redis: RedisDeps;
  temporal: TemporalDeps;
  /** A registry shared with the rest of the process; a fresh one is made when absent (tests). */
  metrics?: Metrics;
  /** The open batcher and the detail cache; made when absent. */
  packets?: PacketServices;
  /** Set only when tracing is on (tracing/index.ts): every request is then a server span. */
  tracing?: Tracing | undefined;
  /** Load shedding's pressure; the process's own, driven by its event-loop lag, when absent (tests set it). */
  pressure?: PressureSource;
}

export interface AppContext extends AppDeps {
  metrics: Metrics;
  packets: PacketServices;
  /** Operations register here as they are mounted; /openapi.json is generated from it. */
  openapi: OpenAPIRegistry;
  rateLimits: RateLimits;
  /** Bearer token verification, remembering verified tokens until they expire. */
  verifyToken: TokenVerifier;
  idempotency: IdempotencyStore;
  /** True while Redis is unreachable: the grab gate, id pre-allocation and caches fall back to Postgres. */
  redisDown: () => boolean;
  /** True when lists must shed deep pages: configured pressure, or degraded mode. */
  underPressure: () => boolean;
  /** Grab and open's steps (routes/gated.ts), which their Express routes and the hot lane both run. */
  gated: GatedDeclaration;
  /** This cell's drain switch (api/cells/drain.ts): sends refuse while it is on. */
  drain: DrainSwitch;
  /** Routing to the owning cell (api/cells/router.ts); undefined with one cell, where nothing routes. */
  cellRouting?: CellRouting | undefined;
  /** Load shedding (api/overload/); undefined when OVERLOAD_SHEDDING is off. */
  overload: OverloadGuard | undefined;
}

export function createContext(deps: AppDeps): AppContext {
  const metrics = deps.metrics ?? createMetrics();
  // ioredis reports 'ready' only while connected; every other state means commands fail fast right now.
  const redisDown = () => deps.redis.client.status !== 'ready';
  const ctx: AppContext = {
    ...deps,
    metrics,
    packets: deps.packets ?? createPacketServices(deps),
    openapi: createApiRegistry(),
    rateLimits: createRateLimits({ config: deps.config, redis: deps.redis, metrics, log: deps.log }),
    verifyToken: cachedTokenVerifier(secretKeyOf(deps.config.auth.secret)),
    idempotency: createIdempotencyStore({ db: deps.db, config: deps.config, log: deps.log }),
    redisDown,
    underPressure: () => deps.config.lists.underPressure || redisDown(),
    gated: { admit: [], act: [] },
    drain: createDrainSwitch(deps.db, deps.config.cells.self),
    overload: deps.config.overload.enabled
      ? createOverloadGuard(deps.config.overload, metrics, deps.log, deps.pressure)
      : undefined,
  };
  ctx.gated = gatedDeclaration(ctx);
  return ctx;
}
