/**
 * The service's own entry points (api/server.ts, workers/main.ts) as child processes in a harness's world:
 * its schema, key prefix, task queue and pumps, on free loopback ports. For tests that need what only a
 * real process has: its process metrics, its HTTP listener and the worker's Temporal runtime with its
 * SDK metrics exporter (installed once per process, so it cannot live inside a Jest worker).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../scripts/lib/isolation';
import { GiveUp, spawnManaged, waitFor, type ManagedProcess } from '../../scripts/lib/managedProcess';
import type { Harness } from './harness';

const ROOT = resolve(__dirname, '../..');
/** The worker bundles its workflows at start from source, which on a loaded machine takes a while. */
const START_TIMEOUT_MS = 180_000;

export interface ServiceProcesses {
  apiUrl: string;
  /** The worker's prom-client /metrics (WORKER_METRICS_PORT) and Temporal SDK metrics (TEMPORAL_METRICS_PORT). */
  workerMetricsUrl: string;
  temporalMetricsUrl: string;
  api: ManagedProcess;
  worker: ManagedProcess;
  stop(): Promise<void>;
}

/** Where the harness's world is, as the variables the config reads. */
function placementOf(h: Harness): Record<string, string> {
  const { config } = h;
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    AUTOSTART_SERVICES: 'false',
    AUTH_SECRET: config.auth.secret,
    DATABASE_URL: config.database.url,
    DATABASE_SCHEMA: config.database.schema,
    DATABASE_POOL_MAX: '5',
    REDIS_URL: config.redis.url,
    REDIS_KEY_PREFIX: config.redis.keyPrefix,
    TEMPORAL_ADDRESS: config.temporal.address,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    CREDIT_PUMP_ID_PREFIX: config.credit.pumpIdPrefix,
    SETTLE_PUMP_ID_PREFIX: config.clearing.pumpIdPrefix,
  };
}

/**
 * Starts the API and one worker with the harness's placement plus `env` (the same settings the harness
 * was created with, so both sides agree); resolves once /readyz answers 200 and both worker ports serve.
 */
export async function startServiceProcesses(
  h: Harness,
  env: Record<string, string>,
): Promise<ServiceProcesses> {
  const ports = { api: await freePort(), worker: await freePort(), temporal: await freePort() };
  const logDir = mkdtempSync(join(tmpdir(), 'redpacket-services-'));
  const childEnv = {
    ...process.env,
    ...placementOf(h),
    ...env,
    PORT: String(ports.api),
    WORKER_METRICS_PORT: String(ports.worker),
    TEMPORAL_METRICS_PORT: String(ports.temporal),
  };
  const start = (entry: string, name: string) =>
    spawnManaged(process.execPath, ['--import', 'tsx', entry], join(logDir, `${name}.log`), {
      env: childEnv,
      cwd: ROOT,
    });
  const worker = start('workers/main.ts', 'worker');
  const api = start('api/server.ts', 'api');
  const stop = async () => {
    await Promise.all([api.stop(10_000), worker.stop(20_000)]);
  };
  const urls = {
    apiUrl: `http://127.0.0.1:${ports.api}`,
    workerMetricsUrl: `http://127.0.0.1:${ports.worker}/metrics`,
    temporalMetricsUrl: `http://127.0.0.1:${ports.temporal}/metrics`,
  };
  const answers = async (url: string) => {
    for (const [name, child] of [
      ['api', api],
      ['worker', worker],
    ] as const)
      if (!child.running()) throw new GiveUp(`${name} exited:\n${child.tail(40)}`);
    const res = await fetch(url).catch(() => undefined);
    return res?.status === 200 ? true : undefined;
  };
  try {
    await waitFor('the API to be ready', () => answers(`${urls.apiUrl}/readyz`), START_TIMEOUT_MS, 500);
    await waitFor(
      'the worker to serve /metrics',
      () => answers(urls.workerMetricsUrl),
      START_TIMEOUT_MS,
      500,
    );
    await waitFor(
      'the worker to serve SDK metrics',
      () => answers(urls.temporalMetricsUrl),
      START_TIMEOUT_MS,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { ...urls, api, worker, stop };
}
