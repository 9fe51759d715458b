/**
 * Bench child: the HTTP references in a process of their own (so they do not share the load generator's
 * event loop, just as the API does not). Two listeners on ephemeral ports, announced over IPC:
 *  - bare: bareApp.ts, no middleware;
 *  - full: the service's own app (createApp: logging, metrics, JSON body, auth, validation, rate limits,
 *    idempotency) serving only the traditional grab, so the traditional design is also measured with the
 *    same middleware as the service.
 */
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Express } from 'express';
import { createApp } from '../../api/app';
import { createMetrics } from '../../api/metrics';
import { loadConfig } from '../../config';
import { createLogger } from '../../config/logger';
import { createDb } from '../../db';
import { createRedis } from '../../redis';
import { createTemporal } from '../../temporal/client';
import { traditionalRoutes } from '../traditional';
import { bareApp } from './bareApp';

function listen(app: Express, host: string): Promise<Server> {
  return new Promise((resolve) => {
    const server = app.listen(0, host, () => resolve(server));
  });
}

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config, 'bench-reference');
  const db = createDb(config, { applicationName: 'redpacket-bench-reference' });
  const redis = createRedis(config);
  const temporal = createTemporal(config);
  const full = createApp(
    { config, log, db, redis, temporal, metrics: createMetrics({ defaultMetrics: true }) },
    { routes: [traditionalRoutes] },
  ).app;
  const servers = await Promise.all([
    listen(bareApp({ db, redis, holdMs: config.packet.holdMs }), config.http.host),
    listen(full, config.http.host),
  ]);
  const [barePort, fullPort] = servers.map((server) => (server.address() as AddressInfo).port);
  process.send?.({ kind: 'ready', barePort, fullPort });

  const shutdown = () => {
    for (const server of servers) server.closeAllConnections();
    void Promise.allSettled(servers.map((server) => new Promise((done) => server.close(done))))
      .then(() => Promise.allSettled([temporal.close(), redis.close(), db.close()]))
      .then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err: unknown) => {
  console.error('bench reference server failed', err);
  process.exit(1);
});
