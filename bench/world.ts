/**
 * The bench's isolated world, like the test suite's global setup: a fresh Postgres database (migrated), a
 * Redis key prefix, a headless in-memory Temporal dev server on a free port with the search attributes
 * registered, and real child processes for the API and the worker configured only through environment
 * variables, plus the reference servers. With --url the service is the one given and only the references
 * get a world of their own (on the same Postgres, Redis and Temporal the environment names).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfig, type Config } from '../config';
import { createDb, type Db } from '../db';
import { dropDatabase } from '../db/admin';
import { migrate } from '../db/migrate';
import { createRedis, deleteByPrefix, type RedisDeps } from '../redis';
import { ensurePostgres, ensureRedis } from '../scripts/lib/services';
import { findTemporalCli, registerSearchAttributes, startDevServer } from '../scripts/lib/temporalCli';
import { createTemporal, type TemporalDeps } from '../temporal/client';
import type { Cleanup } from './cleanup';
import { API_NODE_ARGS, WORKER_NODE_ARGS } from '../scripts/lib/nodeArgs';
import { ROOT, startChild, type Child } from './children';
import { configurationOf, serviceEnv, type ServiceConfiguration } from './env';
import { log, sleep } from './progress';
import { startOtlpSink } from './otlpSink';
import { ProcSampler } from './procstats';
import { PROFILE_DIR } from './profile';
import { startReferences, type References } from './references/servers';
import { freePort, withDatabase } from '../scripts/lib/isolation';

const READY_TIMEOUT_MS = 180_000;
/**
 * The service runs from the production build (`npm run bench` builds it first), so the figures, memory above
 * all, are those of what ships: plain node, the prebuilt workflow bundle, no TypeScript loader.
 */
export const SERVICE_ENTRIES = { api: 'dist/api/server.js', worker: 'dist/workers/main.js' };

/**
 * Starts a second service's worker and API (`worker-<tag>`, `api-<tag>`) from the production build, each with
 * the environment `envOf` gives it, and registers their stops with `cleanup` under `label`.
 */
export function startServiceChildren(
  tag: string,
  label: string,
  envOf: (service: 'api' | 'worker') => Record<string, string>,
  cleanup: Cleanup,
): { api: Child; worker: Child } {
  const worker = startChild({
    name: `worker-${tag}`,
    entry: SERVICE_ENTRIES.worker,
    env: envOf('worker'),
    nodeArgs: [...WORKER_NODE_ARGS],
    configFromEnvOnly: true,
  });
  cleanup.add(`stop ${label} worker`, () => worker.stop());
  const api = startChild({
    name: `api-${tag}`,
    entry: SERVICE_ENTRIES.api,
    env: envOf('api'),
    nodeArgs: [...API_NODE_ARGS],
    configFromEnvOnly: true,
  });
  cleanup.add(`stop ${label} API`, () => api.stop());
  return { api, worker };
}

export interface Service {
  url: string;
  config: Config;
  db: Db;
  temporal: TemporalDeps;
  /** What it runs with, as the report states it. */
  configuration: ServiceConfiguration;
  /** Absent with --url: the service's processes are not ours to watch. */
  api?: Child;
  worker?: Child;
}

export interface World {
  runId: string;
  local: boolean;
  service: Service;
  refs: References;
  /** Clients on the references' database and prefix (the service's own in a local run). */
  db: Db;
  redis: RedisDeps;
  temporal: TemporalDeps;
  config: Config;
  procs: ProcSampler;
  /** The Temporal CLI, and the server the service's own world runs on (the two-cell phase adds namespaces). */
  cliPath: string;
  temporalAddress: string;
}

/** Service clients fail fast instead of queueing while disconnected, so the bench waits for the connection. */
async function connectedRedis(config: Config): Promise<RedisDeps> {
  const redis = createRedis(config, { lazyConnect: true });
  await redis.client.connect();
  return redis;
}

/** A fresh database and key prefix on the servers `base` names, removed by cleanup. */
async function isolatedConfig(base: Config, runId: string, temporalAddress: string, cleanup: Cleanup) {
  const config = loadConfig({
    NODE_ENV: 'production',
    DATABASE_URL: withDatabase(base.database.url, `rp_bench_${runId}`),
    DATABASE_SCHEMA: 'public',
    REDIS_URL: base.redis.url,
    REDIS_KEY_PREFIX: `rp:bench:${runId}:`,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_TASK_QUEUE: `bench-${runId}`,
    AUTH_SECRET: randomBytes(24).toString('hex'),
    PACKET_MIN_EXPIRY_SECONDS: '1',
  });
  await ensurePostgres(config, log);
  cleanup.add('drop the bench database', () => dropDatabase(config.database.url));
  await ensureRedis(config, log);
  cleanup.add('delete the bench Redis keys', async () => {
    const redis = await connectedRedis(config);
    try {
      await deleteByPrefix(redis.client, redis.keys);
    } finally {
      await redis.close();
    }
  });
  const db = createDb(config, { applicationName: 'redpacket-bench' });
  const redis = await connectedRedis(config);
  cleanup.add('close the bench clients', async () => {
    await redis.close();
    await db.close();
  });
  await migrate(db);
  log(`database ${config.database.url.split('/').pop()}, Redis prefix ${config.redis.keyPrefix}`);
  return { config, db, redis };
}

export async function waitForApi(url: string, api: Child | undefined): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (api?.exited()) throw new Error(`the API exited during start-up:\n${api.output()}`);
    try {
      const res = await fetch(`${url}/readyz`);
      if (res.ok) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(500);
  }
  throw new Error(`${url}/readyz not ready after ${READY_TIMEOUT_MS} ms: ${last}`);
}

/** The worker is ready when it has run the service's own self-check workflow end to end. */
export async function waitForWorker(
  temporal: TemporalDeps,
  config: Config,
  runId: string,
  worker: Child,
): Promise<void> {
  const check = temporal.client.workflow.execute('selfCheckWorkflow', {
    taskQueue: config.temporal.taskQueue,
    workflowId: `bench-selfcheck-${runId}`,
    args: [runId],
    workflowExecutionTimeout: `${READY_TIMEOUT_MS / 1000} seconds`,
  });
  const exited = new Promise<never>((_, reject) => {
    worker.process.once('exit', () =>
      reject(new Error(`the worker exited during start-up:\n${worker.output()}`)),
    );
  });
  await Promise.race([check, exited]);
}

async function useRunningService(url: string, base: Config, cleanup: Cleanup): Promise<Service> {
  const db = createDb(base, { applicationName: 'redpacket-bench' });
  const temporal = createTemporal(base);
  cleanup.add('close the service clients', async () => {
    await temporal.close();
    await db.close();
  });
  await waitForApi(url, undefined);
  log(`measuring the running service at ${url}`);
  const configuration = {
    source: `the running service at ${url}: its own environment, which the bench does not see`,
    logLevel: 'unknown',
  };
  return { url, config: base, db, temporal, configuration };
}

async function startService(
  own: { config: Config; db: Db },
  temporal: TemporalDeps,
  runId: string,
  launch: { profile: boolean; tracesEndpoint: string | undefined },
  cleanup: Cleanup,
): Promise<Service> {
  const missing = Object.values(SERVICE_ENTRIES).filter((entry) => !existsSync(join(ROOT, entry)));
  if (missing.length > 0) throw new Error(`${missing.join(', ')} missing: run \`npm run build\` first.`);
  const port = await freePort();
  // Compose's environment for each (bench/env.ts), and nothing the bench itself was started with; with
  // --traces, as compose gives it when the operator exports OTEL_EXPORTER_OTLP_ENDPOINT.
  const apiEnv = serviceEnv('api', own.config, port, launch.tracesEndpoint);
  const worker = startChild({
    name: 'worker',
    entry: SERVICE_ENTRIES.worker,
    env: serviceEnv('worker', own.config, port, launch.tracesEndpoint),
    nodeArgs: [...WORKER_NODE_ARGS],
    configFromEnvOnly: true,
  });
  cleanup.add('stop the worker', () => worker.stop());
  const api = startChild({
    name: 'api',
    entry: SERVICE_ENTRIES.api,
    env: apiEnv,
    configFromEnvOnly: true,
    // The API's heap cap, as the image and `npm start` run it (API_NODE_ARGS).
    nodeArgs: [...API_NODE_ARGS, ...(launch.profile ? ['--cpu-prof', '--cpu-prof-dir', PROFILE_DIR] : [])],
  });
  cleanup.add('stop the API', () => api.stop());
  const service = {
    url: `http://127.0.0.1:${port}`,
    config: own.config,
    db: own.db,
    temporal,
    configuration: configurationOf(apiEnv),
    api,
    worker,
  };
  await Promise.all([waitForApi(service.url, api), waitForWorker(temporal, own.config, runId, worker)]);
  log(
    `API ${service.url} (pid ${api.pid}) and worker (pid ${worker.pid}) ready, LOG_LEVEL ${service.configuration.logLevel}`,
  );
  return service;
}

export async function buildWorld(
  options: { url: string | undefined; profile: boolean; traces: string | undefined },
  cleanup: Cleanup,
): Promise<World> {
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const base = loadConfig();
  const cli = await findTemporalCli(base.temporal.cliPath, log);
  let temporalAddress = base.temporal.address;
  const pids = new Map<string, number>();
  if (!options.url) {
    const server = await startDevServer({
      cliPath: cli,
      port: await freePort(),
      namespace: base.temporal.namespace,
    });
    cleanup.add('stop the Temporal dev server', () => server.stop());
    temporalAddress = server.address;
    if (server.child.pid) pids.set('temporal', server.child.pid);
    registerSearchAttributes(cli, temporalAddress, base.temporal.namespace);
    log(`Temporal dev server on ${temporalAddress} (headless, in memory)`);
  }
  const own = await isolatedConfig(base, runId, temporalAddress, cleanup);
  const tracesEndpoint = options.traces === 'sink' ? await startOtlpSink(cleanup) : options.traces;
  const temporal = createTemporal(own.config);
  cleanup.add('close the bench Temporal client', () => temporal.close());

  // The references start while the service does; both must be up before anything is measured.
  const [service, refs] = await Promise.all([
    options.url
      ? useRunningService(options.url, base, cleanup)
      : startService(own, temporal, runId, { profile: options.profile, tracesEndpoint }, cleanup),
    startReferences(own.config, runId, cleanup),
  ]);
  if (service.api) pids.set('api', service.api.pid);
  if (service.worker) pids.set('worker', service.worker.pid);
  pids.set('reference', refs.server.pid);
  pids.set('refWorker', refs.worker.pid);
  const procs = new ProcSampler(pids);
  cleanup.add('stop sampling memory', () => Promise.resolve(procs.stop()));
  return {
    runId,
    local: !options.url,
    service,
    refs,
    ...own,
    temporal,
    procs,
    cliPath: cli,
    temporalAddress,
  };
}
