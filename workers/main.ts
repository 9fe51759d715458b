/** Worker entry point: connects, migrates, serves the packet task queue until SIGINT/SIGTERM. */
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../config';
import { createLogger } from '../config/logger';
import { createDb } from '../db';
import { registerPoolGauge } from '../db/poolGauge';
import { migrate } from '../db/migrate';
import { createRedis } from '../redis';
import { openCellDatabases } from '../ledger/cellDatabases';
import { runPairAudit } from '../ledger/pairAudit';
import { createTemporal } from '../temporal/client';
import { createWorker } from './createWorker';
import { ensureBackground, keepBackground } from './keeper';
import { createWorkerMetrics, serveMetrics } from './metrics';
import { startTracing } from '../tracing';
import { installWorkerRuntime } from './runtime';
import { prebuiltWorkflowBundle } from './workflowSource';

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger(config, 'worker');
  const temporalMetrics = installWorkerRuntime(config, log);
  const db = createDb(config, { applicationName: 'redpacket-worker' });
  const redis = createRedis(config);
  await migrate(db);
  const connection = await NativeConnection.connect({ address: config.temporal.address });
  // Undefined unless an OTLP endpoint is configured; then the worker runs the traced bundle and interceptors.
  const tracing = startTracing(config.tracing, 'redpacket-worker', { log });
  const workflowBundle = prebuiltWorkflowBundle(tracing !== undefined);
  const metrics = createWorkerMetrics({ defaultMetrics: true });
  registerPoolGauge(metrics.registry, db);
  // A port already taken (a second worker on one host) costs the metrics, not the worker: it carries the pumps.
  const metricsServer =
    config.workerMetricsPort > 0
      ? await serveMetrics(metrics.registry, config.workerMetricsPort, config.http.host).catch(
          (err: unknown) => {
            log.error({ err, port: config.workerMetricsPort }, 'worker metrics not served');
            return undefined;
          },
        )
      : undefined;
  // With every cell's database configured (CELL_DATABASE_URLS), the reconciler also runs the pair audit.
  const cellDbs = openCellDatabases(config, 'redpacket-pair-audit');
  const pairAudit = cellDbs
    ? () => runPairAudit(cellDbs.dbs, { transitMaxMs: config.clearing.transitMaxMs })
    : undefined;
  const worker = await createWorker({
    connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    deps: {
      db,
      redis,
      credit: config.credit,
      cells: config.cells,
      clearing: config.clearing,
      reconcile: { settings: config.reconcile, metrics, pairAudit },
      pumpMetrics: metrics.pump,
    },
    workflowBundle,
    tracing,
  });
  // The pumps and the reconcile schedule need a worker to run on, so they are started after it is built;
  // both are idempotent, so every worker does it at start-up, and again every interval (workers/keeper.ts).
  const temporal = createTemporal(config);
  const schedule = await ensureBackground(temporal.client, config);
  const keeper = keepBackground(temporal.client, config, log, config.reconcile.intervalMs);
  log.info(
    {
      taskQueue: config.temporal.taskQueue,
      address: config.temporal.address,
      reconcileSchedule: schedule,
      metricsPort: metricsServer ? config.workerMetricsPort : 'off',
      temporalMetrics: temporalMetrics ?? 'off',
      traces: config.tracing?.tracesUrl ?? 'off',
      workflows: workflowBundle ? workflowBundle.codePath : 'bundled at start from workflows/',
    },
    'worker started',
  );
  // Worker.run installs its own SIGINT/SIGTERM handlers and drains in-flight tasks before resolving.
  await worker.run();
  keeper.stop();
  await temporal.close();
  metricsServer?.close();
  await connection.close();
  await redis.close();
  await cellDbs?.close();
  await db.close();
  await tracing?.shutdown();
  log.info('worker stopped');
}

main().catch((err: unknown) => {
  console.error('worker failed', err);
  process.exit(1);
});
