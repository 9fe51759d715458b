/**
 * A second copy of the service next to the bench's own, for the distributed-engine phases (issue 29): an API
 * and a worker from the production build with docker-compose.yml's environment, placed in a world of their
 * own (a fresh database, a key prefix, a task queue and, on a shared Temporal server, a namespace) whose Redis
 * or Temporal is the distributed engine. Laid out as bench/cellPair.ts lays out a cell, but with no cell
 * variables: the only difference from the bench's own service is where it finds Redis and Temporal.
 */
import type { Config } from '../config';
import { createDb, type Db } from '../db';
import { dropDatabase, ensureDatabase } from '../db/admin';
import { migrate } from '../db/migrate';
import { createRedis, deleteByPrefix } from '../redis';
import { freePort, withDatabase } from '../scripts/lib/isolation';
import { createTemporal, type TemporalDeps } from '../temporal/client';
import { prepareNamespace } from './cellPair';
import type { Child } from './children';
import type { Cleanup } from './cleanup';
import { configOf, serviceEnv, type PLACEMENT_VARIABLES } from './env';
import { log } from './progress';
import { startServiceChildren, waitForApi, waitForWorker } from './world';

export type SideTag = 'rc' | 'tc';

export interface SidePlan {
  runId: string;
  /** `rc` (on the Redis Cluster) or `tc` (on the Temporal cluster): names its database, prefix and processes. */
  tag: SideTag;
  /** The bench's own service's configuration: its Postgres server and AUTH_SECRET are shared. */
  base: Config;
  redisUrl: string;
  temporalAddress: string;
  /** A namespace of its own on a Temporal server the bench's service also uses, so no workflow id collides. */
  namespace: string;
}

export interface SideService {
  tag: SideTag;
  url: string;
  config: Config;
  db: Db;
  temporal: TemporalDeps;
  api: Child;
  worker: Child;
}

/**
 * Where the side service's children find their world: every value a placement variable (bench/env.ts), so
 * the children's environment is compose's with placement and the declared rate limits changed, as for the
 * bench's own service. The key prefix stays outside any braces (a prefix never moves a packet's slot).
 */
export function sidePlacement(
  plan: SidePlan,
  port: number,
): Record<(typeof PLACEMENT_VARIABLES)[number], string> {
  return {
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: withDatabase(plan.base.database.url, `rp_bench_${plan.runId}_${plan.tag}`),
    DATABASE_SCHEMA: 'public',
    REDIS_URL: plan.redisUrl,
    REDIS_KEY_PREFIX: `rp:bench:${plan.runId}:${plan.tag}:`,
    TEMPORAL_ADDRESS: plan.temporalAddress,
    TEMPORAL_NAMESPACE: plan.namespace,
    TEMPORAL_TASK_QUEUE: `bench-${plan.runId}-${plan.tag}`,
    // The bench's own secret, so one set of bench tokens works on both services.
    AUTH_SECRET: plan.base.auth.secret,
  };
}

/** The side service's `api` or `worker` environment: compose's, placed (tested by benchEngines.test.ts). */
export function sideServiceEnv(service: 'api' | 'worker', plan: SidePlan, port: number) {
  return serviceEnv(service, configOf(sidePlacement(plan, port)), port);
}

/**
 * Starts the side service and waits until its API answers /readyz and its worker has run its self-check.
 * `newNamespace`: register the namespace and its search attributes first (a shared dev server); a Temporal
 * cluster started for the phase already serves its namespace.
 */
export async function startSideService(
  plan: SidePlan,
  temporalCli: { cliPath: string; newNamespace: boolean },
  cleanup: Cleanup,
): Promise<SideService> {
  const port = await freePort();
  const config = configOf(sidePlacement(plan, port));
  await ensureDatabase(config.database.url);
  cleanup.add(`drop the ${plan.tag} service's database`, () => dropDatabase(config.database.url));
  cleanup.add(`delete the ${plan.tag} service's Redis keys`, async () => {
    const redis = createRedis(config, { lazyConnect: true });
    try {
      await redis.client.connect();
      await deleteByPrefix(redis.client, redis.keys);
    } finally {
      await redis.close();
    }
  });
  const db = createDb(config, { applicationName: `redpacket-bench-${plan.tag}` });
  await migrate(db);
  if (temporalCli.newNamespace)
    await prepareNamespace(
      { cliPath: temporalCli.cliPath, temporalAddress: plan.temporalAddress },
      plan.namespace,
    );
  const temporal = createTemporal(config);
  cleanup.add(`close the ${plan.tag} service's bench clients`, async () => {
    await Promise.allSettled([temporal.close(), db.close()]);
  });
  const { api, worker } = startServiceChildren(
    plan.tag,
    `the ${plan.tag} service's`,
    (service) => sideServiceEnv(service, plan, port),
    cleanup,
  );
  const side = { tag: plan.tag, url: `http://127.0.0.1:${port}`, config, db, temporal, api, worker };
  await Promise.all([
    waitForApi(side.url, api),
    waitForWorker(temporal, config, `${plan.runId}-${plan.tag}`, worker),
  ]);
  log(`${plan.tag} service ready at ${side.url} (API pid ${api.pid}, worker pid ${worker.pid})`);
  return side;
}
