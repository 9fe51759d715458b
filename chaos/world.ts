/**
 * The chaos run's own world: a private Postgres and Redis, a Temporal dev server on its own SQLite file, two
 * workers and the API from the production build, and the TCP proxies through which (only) the API reaches
 * Postgres and Redis, so a fault can cut it off while the workers keep going. Everything lives under one temp
 * dir and on free loopback ports, and cleanup removes it all.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, type Child } from '../bench/children';
import type { Cleanup } from '../bench/cleanup';
import { childEnv } from '../bench/env';
import { log, sleep } from '../bench/progress';
import { loadConfig, type Config } from '../config';
import { createDb, type Db } from '../db';
import { ensureDatabase } from '../db/admin';
import { migrate } from '../db/migrate';
import { API_NODE_ARGS } from '../scripts/lib/nodeArgs';
import { freePort } from '../scripts/lib/isolation';
import { freePortBlock, startRedisCluster, type RedisClusterProcess } from '../scripts/lib/redisCluster';
import { startTcpProxy, type TcpProxy } from '../scripts/lib/tcpProxy';
import { findTemporalCli, registerSearchAttributes } from '../scripts/lib/temporalCli';
import { createTemporal, type TemporalDeps } from '../temporal/client';
import { apiListening, NodeComponent, TemporalComponent, type Component } from './components';
import type { TemporalMode } from '../scripts/lib/devTemporalCluster';
import { PrivatePostgres, PrivateRedis } from './servers';
import { startChaosCluster } from './temporalCluster';

const ENTRIES = { api: 'dist/api/server.js', worker: 'dist/workers/main.js' };
const WORKER_READY_TIMEOUT_MS = 180_000;
/**
 * Short enough that a Postgres crash (0.3-2 s down, then recovery) makes the pumps raise CreditStuck, so the
 * checker proves it clears again; CreditStuck is only required false once healed.
 */
const CREDIT_STUCK_AFTER_MS = '1500';

export interface ChaosWorld {
  runId: string;
  dir: string;
  /** The driver's and checker's view: direct connections, never through the proxies. */
  config: Config;
  db: Db;
  temporal: TemporalDeps;
  url: string;
  postgres: PrivatePostgres;
  /** One Redis, unless the run is on a Redis Cluster (`--redis-cluster`). */
  redis: PrivateRedis | undefined;
  redisCluster: RedisClusterProcess | undefined;
  /** The dev server, or both nodes of the cluster (`--temporal cluster`). */
  temporalServer: Component & { address: string };
  /** With `--temporal cluster`: the nodes `temporal-node-kill` may kill (the fault's index picks one). */
  temporalNodes?: Component[];
  api: NodeComponent;
  workers: NodeComponent[];
  /** The API reaches a Redis Cluster directly: a proxy in front of one node would not cut the others. */
  proxies: { postgres: TcpProxy; redis: TcpProxy | undefined };
}

function worldConfig(runId: string, secret: string, urls: { db: string; redis: string; temporal: string }) {
  return loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: urls.db,
    DATABASE_SCHEMA: 'public',
    REDIS_URL: urls.redis,
    REDIS_KEY_PREFIX: 'rp:',
    TEMPORAL_ADDRESS: urls.temporal,
    TEMPORAL_NAMESPACE: 'default',
    TEMPORAL_TASK_QUEUE: `chaos-${runId}`,
    AUTH_SECRET: secret,
    PACKET_MIN_EXPIRY_SECONDS: '1',
  });
}

/**
 * A worker is up when it polls the run's task queue (its default identity is `<pid>@<host>`). The first
 * start also runs the service's self-check workflow end to end; a restart does not, because a self-check
 * that meets a crashed Postgres fails for reasons that are the schedule's, not the worker's.
 */
export function workerReady(temporal: TemporalDeps, config: Config, runId: string, index: number) {
  let started = 0;
  return async (child: Child): Promise<void> => {
    const exited = new Promise<never>((_, reject) => {
      child.process.once('exit', () => reject(new Error(`worker ${index} exited:\n${child.output()}`)));
    });
    if (started++ === 0) {
      const check = temporal.client.workflow.execute('selfCheckWorkflow', {
        taskQueue: config.temporal.taskQueue,
        workflowId: `chaos-selfcheck-${runId}-${index}`,
        args: [runId],
        workflowExecutionTimeout: `${WORKER_READY_TIMEOUT_MS / 1000} seconds`,
      });
      await Promise.race([check, exited]);
      return;
    }
    await Promise.race([pollerSeen(temporal, config, child.pid), exited]);
  };
}

async function pollerSeen(temporal: TemporalDeps, config: Config, pid: number): Promise<void> {
  const deadline = Date.now() + WORKER_READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      const { pollers } = await temporal.connection.workflowService.describeTaskQueue({
        namespace: config.temporal.namespace,
        taskQueue: { name: config.temporal.taskQueue },
        taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
      });
      if (pollers.some((poller) => poller.identity?.startsWith(`${pid}@`))) return;
    } catch {
      // Temporal itself may be down or paused by another fault; keep asking until the deadline.
    }
    await sleep(500);
  }
  throw new Error(`worker pid ${pid} did not poll within ${WORKER_READY_TIMEOUT_MS} ms`);
}

/** One private Redis, or a 3+3 Redis Cluster on ports from 7100 (docs/redis-cluster.md). */
async function startRedis(cleanup: Cleanup, dir: string, onCluster: boolean) {
  if (onCluster) {
    const basePort = await freePortBlock(7100, 7200);
    const cluster = await startRedisCluster({ basePort, dir: join(dir, 'redis-cluster') });
    cleanup.add('stop the Redis Cluster', () => cluster.stop());
    log(`Redis Cluster (3 masters, 3 replicas) on ${basePort}-${basePort + 5} in ${cluster.startMs} ms`);
    return { redis: undefined, redisCluster: cluster, url: cluster.url };
  }
  const redis = new PrivateRedis(dir, await freePort());
  await redis.start();
  cleanup.add('stop the private Redis', () => redis.kill());
  return { redis, redisCluster: undefined, url: redis.url };
}

export async function buildWorld(
  cleanup: Cleanup,
  options: { redisCluster?: boolean; temporal?: TemporalMode } = {},
): Promise<ChaosWorld> {
  const temporalMode = options.temporal ?? 'dev';
  const missing = Object.values(ENTRIES).filter((entry) => !existsSync(join(ROOT, entry)));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run \`npm run build\` first.`);
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const dir = mkdtempSync(join(tmpdir(), 'redpacket-chaos-'));
  cleanup.add('remove the run directory', () =>
    Promise.resolve(rmSync(dir, { recursive: true, force: true })),
  );
  const [pgPort, temporalPort, apiPort] = await Promise.all([1, 2, 3].map(() => freePort()));

  const postgres = new PrivatePostgres(dir, pgPort as number);
  await postgres.init(dir);
  await postgres.start();
  cleanup.add('stop the private Postgres', () => postgres.stop());
  const {
    redis,
    redisCluster,
    url: redisUrl,
  } = await startRedis(cleanup, dir, options.redisCluster ?? false);
  log(`private Postgres on ${pgPort}, Redis ${redisUrl} under ${dir}`);

  let temporalServer: ChaosWorld['temporalServer'];
  let temporalNodes: Component[] | undefined;
  if (temporalMode === 'cluster') {
    ({ server: temporalServer, nodes: temporalNodes } = await startChaosCluster(runId, cleanup));
  } else {
    const cli = await findTemporalCli(loadConfig().temporal.cliPath, log);
    const devServer = new TemporalComponent({
      cliPath: cli,
      port: temporalPort as number,
      dbFile: join(dir, 'temporal.sqlite'),
      namespace: 'default',
      logFile: join(dir, 'temporal.log'),
    });
    await devServer.start();
    cleanup.add('stop the Temporal dev server', () => devServer.stop());
    registerSearchAttributes(cli, devServer.address, 'default');
    log(`Temporal dev server on ${devServer.address}, state in ${dir}/temporal.sqlite`);
    temporalServer = devServer;
  }

  const proxies = {
    postgres: await startTcpProxy('127.0.0.1', postgres.port),
    redis: redis ? await startTcpProxy('127.0.0.1', redis.port) : undefined,
  };
  cleanup.add('close the proxies', async () => {
    await Promise.all([proxies.postgres.close(), proxies.redis?.close()]);
  });
  const secret = randomBytes(24).toString('hex');
  const config = worldConfig(runId, secret, {
    db: postgres.url,
    redis: redisUrl,
    temporal: temporalServer.address,
  });
  const apiConfig = worldConfig(runId, secret, {
    db: `postgres://postgres@127.0.0.1:${proxies.postgres.port}/redpacket`,
    redis: proxies.redis ? `redis://127.0.0.1:${proxies.redis.port}` : redisUrl,
    temporal: temporalServer.address,
  });

  await ensureDatabase(postgres.url);
  const db = createDb(config, { applicationName: 'redpacket-chaos' });
  await migrate(db);
  const temporal = createTemporal(config);
  cleanup.add('close the driver clients', async () => {
    await Promise.allSettled([db.close(), temporal.close()]);
  });

  const extra = { CREDIT_STUCK_AFTER_MS, LOG_LEVEL: 'error' };
  const workers = [0, 1].map(
    (index) =>
      new NodeComponent(
        `worker${index}`,
        {
          name: `worker${index}`,
          entry: ENTRIES.worker,
          env: { ...childEnv(config, apiPort as number), ...extra },
        },
        workerReady(temporal, config, runId, index),
      ),
  );
  const url = `http://127.0.0.1:${apiPort}`;
  const api = new NodeComponent(
    'api',
    {
      name: 'api',
      entry: ENTRIES.api,
      env: { ...childEnv(apiConfig, apiPort as number), ...extra },
      nodeArgs: [...API_NODE_ARGS],
    },
    apiListening(url),
  );
  for (const component of [...workers, api]) cleanup.add(`stop ${component.name}`, () => component.stop());
  await Promise.all([...workers.map((worker) => worker.start()), api.start()]);
  log(`API ${url} and two workers ready (run ${runId})`);
  return {
    runId,
    dir,
    config,
    db,
    temporal,
    url,
    postgres,
    redis,
    redisCluster,
    temporalServer,
    ...(temporalNodes ? { temporalNodes } : {}),
    api,
    workers,
    proxies,
  };
}
