/** Builds the Express app from its dependencies; server.ts listens, tests drive it in-process. */
import express, { type Express } from 'express';
import { createCellRouting } from './cells/router';
import { dependencyDownProblem } from './cells/unavailable';
import { createContext, type AppContext, type AppDeps } from './context';
import { toProblem } from './errorMapping';
import { laneErrors, mountHotLane } from './hotLane';
import { requestLogging, requestMetrics } from './logging';
import { mountShedder } from './overload/shedder';
import { errorHandler, malformedPathHandler, notFoundHandler } from './problems';
import { routeFactories, type RouteFactory } from './routes';
import { internalRoutes } from './routes/internal';
import type { GatedDeclaration } from './routes/gated';

export type { AppContext, AppDeps };

export interface AppOptions {
  /** Route modules to mount; the service's own by default. Tests may append their own. */
  routes?: RouteFactory[];
  /** Answer storm-shaped grabs and opens in front of Express (hotLane.ts); on unless a test compares. */
  hotLane?: boolean;
  /** Changes grab and open's declared steps (routes/gated.ts) for both ways in; tests add a step. */
  gated?: (declaration: GatedDeclaration) => GatedDeclaration;
}

export function createApp(deps: AppDeps, options: AppOptions = {}): { app: Express; ctx: AppContext } {
  const ctx = createContext(deps);
  if (options.gated) ctx.gated = options.gated(ctx.gated);
  // With more than one cell, requests another cell owns are forwarded there (api/cells/router.ts); with one
  // cell nothing of it is mounted and no request pays for it.
  ctx.cellRouting = createCellRouting(ctx);
  const routing = ctx.cellRouting;
  const app = express();
  app.disable('x-powered-by');
  // Per-IP limits need the client address; behind N trusted proxies it is the Nth X-Forwarded-For hop.
  app.set('trust proxy', ctx.config.http.trustProxyHops > 0 ? ctx.config.http.trustProxyHops : false);
  app.use(requestLogging(ctx.log, ctx.config.logSlowRequestMs));
  app.use(requestMetrics(ctx.metrics));
  const withLane = options.hotLane ?? true;
  if (withLane) app.use(laneErrors());
  app.use(malformedPathHandler);
  // Calls from other cells (several cells only): before routing, which must not forward them elsewhere, and
  // ahead of the public body limit, since a batch of cross-cell credits is larger.
  if (routing) app.use(internalRoutes(ctx), routing.beforeBody);
  app.use(express.json({ limit: ctx.config.http.bodyLimitBytes, strict: true }));
  if (routing) app.use(routing.afterBody);

  for (const factory of options.routes ?? routeFactories) app.use(factory(ctx));

  app.use(notFoundHandler);
  // A request that met its own Postgres, Redis or Temporal down is a 503 with Retry-After, never a 500.
  app.use(errorHandler(ctx.log, [toProblem, dependencyDownProblem(ctx.config.cells.self, Boolean(routing))]));
  if (withLane) mountHotLane(app, ctx);
  // Tracing around the lane, only when it is on: off, requests meet no tracing code at all.
  if (deps.tracing) deps.tracing.traceRequests(app);
  // Outermost, so the storm's grabs and opens pass admission before the lane (or tracing) sees them, and a
  // shed request costs nothing more (docs/overload.md).
  mountShedder(app, ctx.overload);
  return { app, ctx };
}
