/** Builds the Express app from its dependencies; server.ts listens, tests drive it in-process. */
import express, { type Express } from 'express';
import { createContext, type AppContext, type AppDeps } from './context';
import { toProblem } from './errorMapping';
import { laneErrors, mountHotLane } from './hotLane';
import { requestLogging, requestMetrics } from './logging';
import { errorHandler, malformedPathHandler, notFoundHandler } from './problems';
import { routeFactories, type RouteFactory } from './routes';
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
  const app = express();
  app.disable('x-powered-by');
  // Per-IP limits need the client address; behind N trusted proxies it is the Nth X-Forwarded-For hop.
  app.set('trust proxy', ctx.config.http.trustProxyHops > 0 ? ctx.config.http.trustProxyHops : false);
  app.use(requestLogging(ctx.log, ctx.config.logSlowRequestMs));
  app.use(requestMetrics(ctx.metrics));
  const withLane = options.hotLane ?? true;
  if (withLane) app.use(laneErrors());
  app.use(malformedPathHandler);
  app.use(express.json({ limit: ctx.config.http.bodyLimitBytes, strict: true }));

  for (const factory of options.routes ?? routeFactories) app.use(factory(ctx));

  app.use(notFoundHandler);
  app.use(errorHandler(ctx.log, [toProblem]));
  if (withLane) mountHotLane(app, ctx);
  return { app, ctx };
}
