/** Builds the Express app from its dependencies; server.ts listens, tests drive it in-process. */
import express, { type Express } from 'express';
import type { Config } from '../config';
import type { Logger } from '../config/logger';
import type { Db } from '../db';
import type { RedisDeps } from '../redis';
import type { TemporalDeps } from '../temporal/client';
import { errorHandler, notFoundHandler } from './problems';
import { checkReadiness } from './readiness';

export interface AppDeps {
  config: Config;
  log: Logger;
  db: Db;
  redis: RedisDeps;
  temporal: TemporalDeps;
}

export function buildApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', false);
  app.use(express.json({ limit: deps.config.http.bodyLimitBytes, strict: true }));

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.get('/readyz', async (_req, res) => {
    const readiness = await checkReadiness(deps);
    const down = Object.entries(readiness.checks)
      .filter(([, check]) => check.status === 'down')
      .map(([name]) => name);
    res
      .status(readiness.ready ? 200 : 503)
      .json({ status: readiness.ready ? 'ready' : 'not_ready', down, checks: readiness.checks });
  });

  app.use(notFoundHandler);
  app.use(errorHandler(deps.log));
  return app;
}
