/** API entry point: builds the app, listens, and on SIGINT/SIGTERM stops accepting and finishes in-flight requests. */
import type { Server } from 'node:http';
import { loadConfig } from '../config';
import { createLogger } from '../config/logger';
import { createDb } from '../db';
import { registerPoolGauge } from '../db/poolGauge';
import { migrate } from '../db/migrate';
import { createRedis } from '../redis';
import { createTemporal } from '../temporal/client';
import { startTracing } from '../tracing';
import { createApp } from './app';
import { createMetrics } from './metrics';

const SHUTDOWN_GRACE_MS = 10_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config, 'api');
  const db = createDb(config, { applicationName: 'redpacket-api' });
  const redis = createRedis(config);
  // Undefined unless an OTLP endpoint is configured; then the client and the app below are traced.
  const tracing = startTracing(config.tracing, 'redpacket-api', { log });
  const temporal = createTemporal(config, tracing);
  await migrate(db);
  // Process metrics (CPU, heap, event loop lag) belong to the real process, not to test apps.
  const metrics = createMetrics({ defaultMetrics: true });
  registerPoolGauge(metrics.registry, db);
  const { app } = createApp({ config, log, db, redis, temporal, metrics, tracing });

  const server: Server = await new Promise((resolve) => {
    const listening = app.listen(config.http.port, config.http.host, () => resolve(listening));
  });
  log.info({ port: config.http.port, traces: config.tracing?.tracesUrl ?? 'off' }, 'api listening');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'api stopping');
    const force = setTimeout(() => {
      log.warn('in-flight requests did not finish in time; closing connections');
      server.closeAllConnections();
    }, SHUTDOWN_GRACE_MS);
    force.unref();
    server.close(() => {
      // Tracing last, so the spans of the requests that just finished are exported before the process exits.
      const closing = [temporal.close(), redis.close(), db.close()];
      void Promise.allSettled(closing)
        .then(() => tracing?.shutdown())
        .catch(() => undefined)
        .then(() => {
          log.info('api stopped');
          process.exit(0);
        });
    });
    server.closeIdleConnections();
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((err: unknown) => {
  console.error('api failed to start', err);
  process.exit(1);
});
