/**
 * Brings the whole service up for local use: Postgres and Redis (started if local and stopped), the Temporal
 * dev server on a SQLite file under .data/ with its UI, migrations, one worker and the API. Ctrl-C stops every
 * child it started; a child that dies takes the others down with it so nothing is left half-running.
 * `--cells n,s` starts every cell of the list instead, each with its own database, key prefix, namespace,
 * worker, two API processes and HAProxy as its entry (scripts/lib/devCells.ts, docs/cells.md).
 * `--temporal cluster` runs Temporal as two server nodes on Postgres instead (scripts/lib/devTemporalCluster.ts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadConfig } from '../config';
import { createDb } from '../db';
import { migrate } from '../db/migrate';
import {
  cellsFlag,
  planCells,
  requireHaproxy,
  prepareCell,
  startEntries,
  type CellPlan,
} from './lib/devCells';
import { haFlag, startCellPairs } from './lib/devPatroni';
import { startDevTemporalCluster, temporalFlag } from './lib/devTemporalCluster';
import { ensurePostgres, ensureRedis } from './lib/services';
import type { TemporalCluster } from './lib/temporalCluster';
import {
  findTemporalCli,
  registerSearchAttributes,
  startDevServer,
  waitForTemporal,
  type DevServer,
} from './lib/temporalCli';

const ROOT = resolve(__dirname, '..');
const READY_TIMEOUT_MS = 120_000;
const log = (line: string) => console.log(`[dev] ${line}`);

function portOf(address: string): number {
  const port = Number(address.split(':').pop());
  if (!Number.isInteger(port) || port <= 0) throw new Error(`TEMPORAL_ADDRESS ${address} has no port`);
  return port;
}

async function temporalAlreadyUp(address: string): Promise<boolean> {
  try {
    await waitForTemporal(address, 1_000);
    return true;
  } catch {
    return false;
  }
}

async function waitForReady(url: string, children: ChildProcess[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    if (children.some((child) => child.exitCode !== null))
      throw new Error('a service exited during start-up');
    try {
      const res = await fetch(url);
      if (res.ok) return;
      last = await res.text();
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`not ready after ${READY_TIMEOUT_MS} ms: ${last}`);
}

async function main(): Promise<void> {
  const cells = cellsFlag(process.argv.slice(2));
  if (cells) requireHaproxy();
  const temporalMode = temporalFlag(process.argv.slice(2));
  let config = loadConfig();
  mkdirSync(join(ROOT, '.data'), { recursive: true });
  await ensurePostgres(config, log);
  await ensureRedis(config, log);

  let devServer: DevServer | undefined;
  let cluster: TemporalCluster | undefined;
  const cli = await findTemporalCli(config.temporal.cliPath, log);
  if (temporalMode === 'cluster') {
    cluster = await startDevTemporalCluster(config, cli, log);
    // Every child (worker, API, cells) inherits this environment.
    process.env.TEMPORAL_ADDRESS = cluster.address;
    config = loadConfig();
  } else if (await temporalAlreadyUp(config.temporal.address)) {
    log(`using the Temporal server already at ${config.temporal.address}`);
  } else {
    log(`starting Temporal dev server (${cli}) on ${config.temporal.address}`);
    devServer = await startDevServer({
      cliPath: cli,
      port: portOf(config.temporal.address),
      uiPort: config.temporal.uiPort,
      dbFile: resolve(ROOT, config.temporal.dbFile),
      namespace: config.temporal.namespace,
      logFile: join(ROOT, '.data', 'temporal.log'),
    });
  }
  registerSearchAttributes(cli, config.temporal.address, config.temporal.namespace);

  const plans = cells ? planCells(cells, config) : undefined;
  // --ha: each cell's Postgres is a Patroni pair behind HAProxy (docs/failover.md), started before migrating.
  const stopPairs = plans && haFlag(process.argv.slice(2)) ? await startCellPairs(plans, log) : undefined;
  if (plans) {
    for (const plan of plans) await prepareCell(plan, config, cli, log);
  } else {
    const db = createDb(config, { applicationName: 'redpacket-dev' });
    const { applied } = await migrate(db);
    await db.close();
    log(applied.length ? `applied migrations: ${applied.join(', ')}` : 'migrations up to date');
  }

  const children: ChildProcess[] = [];
  const watch = (name: string, child: ChildProcess) => {
    children.push(child);
    child.once('exit', (code, signal) => {
      if (!stopping) {
        log(`${name} exited (${signal ?? code}); stopping everything`);
        void stopAll(1);
      }
    });
    return child;
  };
  const startChild = (name: string, entry: string, env: NodeJS.ProcessEnv = process.env) =>
    watch(name, spawn(process.execPath, ['--import', 'tsx', entry], { cwd: ROOT, stdio: 'inherit', env }));

  let stopping = false;
  const stopAll = async (exitCode: number) => {
    if (stopping) return;
    stopping = true;
    log('stopping...');
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
          }),
      ),
    );
    await devServer?.stop();
    await stopPairs?.();
    await cluster?.stop();
    log('stopped');
    process.exit(exitCode);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  if (plans) {
    try {
      await startCells(plans, startChild, watch, children);
    } catch (err) {
      log(err instanceof Error ? err.message : String(err));
      await stopAll(1);
    }
    return;
  }

  startChild('worker', 'workers/main.ts');
  startChild('api', 'api/server.ts');
  const apiUrl = `http://localhost:${config.http.port}`;
  try {
    await waitForReady(`${apiUrl}/readyz`, children);
  } catch (err) {
    log(err instanceof Error ? err.message : String(err));
    await stopAll(1);
    return;
  }
  log('ready');
  log(`  API          ${apiUrl}   (GET /healthz, /readyz)`);
  if (cluster)
    log(`  Temporal     two nodes, ${cluster.nodes.map((node) => node.address).join(' and ')} (no UI)`);
  else
    log(
      `  Temporal UI  http://localhost:${config.temporal.uiPort}${devServer ? '' : ' (if that server runs its UI there)'}`,
    );
  log(
    `  Temporal     ${config.temporal.address} namespace ${config.temporal.namespace}, task queue ${config.temporal.taskQueue}`,
  );
  log('Ctrl-C stops everything.');
}

/** Starts each cell's worker, API processes and HAProxy entry, waits for every entry, prints them. */
async function startCells(
  plans: CellPlan[],
  startChild: (name: string, entry: string, env: NodeJS.ProcessEnv) => ChildProcess,
  watch: (name: string, child: ChildProcess) => ChildProcess,
  children: ChildProcess[],
): Promise<void> {
  for (const plan of plans) {
    const env = { ...process.env, ...plan.env };
    startChild(`worker ${plan.cell}`, 'workers/main.ts', env);
    for (const port of plan.apiPorts)
      startChild(`api ${plan.cell}:${port}`, 'api/server.ts', { ...env, PORT: String(port) });
  }
  // HAProxy starts once its API processes answer, so its first health checks find them up.
  for (const plan of plans)
    for (const port of plan.apiPorts) await waitForReady(`http://localhost:${port}/readyz`, children);
  startEntries(plans, join(ROOT, '.data')).forEach((entry, index) =>
    watch(`haproxy ${plans[index]!.cell}`, entry.child),
  );
  for (const plan of plans) await waitForReady(`http://localhost:${plan.entryPort}/readyz`, children);
  log('ready');
  for (const plan of plans) {
    log(
      `  cell ${plan.cell}  entry http://localhost:${plan.entryPort} (HAProxy; API processes on ${plan.apiPorts.join(', ')}), ` +
        `database ${new URL(plan.env['DATABASE_URL']!).pathname.slice(1)}, Redis prefix ${plan.env['REDIS_KEY_PREFIX']}, ` +
        `namespace ${plan.env['TEMPORAL_NAMESPACE']}`,
    );
  }
  log('Any entry takes any request and forwards what another cell owns. Ctrl-C stops everything.');
}

main().catch((err: unknown) => {
  console.error(`[dev] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
