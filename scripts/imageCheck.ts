/**
 * `npm run image:check`: the Docker image, built and run without Docker (CI has no Docker engine). It
 * replays the Dockerfile in a scratch directory (scripts/lib/dockerReplay.ts: the build stage's `npm ci` and
 * `npm run build`, the runtime stage's `npm ci --omit=dev` and the copy of dist/), checks that the runtime
 * has no dev dependencies, then starts the API and the worker with docker-compose.yml's command and
 * environment, adapted to this machine's services, and passes when `/readyz` answers 200 and the worker
 * runs the self-check workflow from the prebuilt bundle. Both must then stop cleanly on SIGTERM, as on
 * `docker stop`. `--keep` leaves the scratch directory for inspection.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig, type Config } from '../config';
import { dropDatabase } from '../db/admin';
import { createRedis, deleteByPrefix } from '../redis';
import { appServices, readCompose, serviceCommand, serviceEnvironment } from './lib/compose';
import { readDockerfile } from './lib/dockerfile';
import { hostPath, imageEnv, replayBuild, type BuiltStage } from './lib/dockerReplay';
import { freePort, withDatabase } from './lib/isolation';
import { ensurePostgres, ensureRedis } from './lib/services';
import { findTemporalCli, registerSearchAttributes, startDevServer } from './lib/temporalCli';

const ROOT = resolve(__dirname, '..');
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 20_000;
/** Packages that must not reach the runtime image: the TypeScript toolchain and the test tools. */
const DEV_ONLY = ['typescript', 'tsx', 'jest', 'ts-jest', 'eslint', '@temporalio/testing'];

const log = (line: string) => console.log(`[image] ${line}`);
const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

interface Running {
  name: string;
  child: ChildProcess;
  output: () => string;
}

function checkRuntime(runtime: BuiltStage): void {
  const app = hostPath(runtime, '.');
  const present = DEV_ONLY.filter((name) => existsSync(join(app, 'node_modules', name)));
  if (present.length > 0) throw new Error(`dev dependencies in the runtime image: ${present.join(', ')}`);
  for (const bundle of ['workflow-bundle.js', 'workflow-bundle-traced.js']) {
    if (!existsSync(join(app, 'dist', bundle))) throw new Error(`no prebuilt workflow bundle ${bundle}`);
  }
  log(`runtime: ${readdirSync(app).sort().join(', ')}; no dev dependencies; user ${runtime.user ?? 'root'}`);
}

/** Compose's addresses name its services; here the same services are this machine's (or this run's). */
function adapt(env: Record<string, string>, local: { config: Config; database: string; temporal: string }) {
  const adapted = { ...env };
  const swapHost = (url: string, localUrl: string) => {
    const parsed = new URL(url);
    const target = new URL(localUrl);
    parsed.hostname = target.hostname;
    parsed.port = target.port;
    if (target.pathname.length > 1) parsed.pathname = target.pathname;
    return parsed.toString();
  };
  if (env.DATABASE_URL) adapted.DATABASE_URL = swapHost(env.DATABASE_URL, local.database);
  if (env.REDIS_URL) adapted.REDIS_URL = swapHost(env.REDIS_URL, local.config.redis.url);
  if (env.TEMPORAL_ADDRESS) adapted.TEMPORAL_ADDRESS = local.temporal;
  for (const [name, value] of Object.entries(env)) {
    if (adapted[name] !== value) log(`  ${name}: ${value} -> ${adapted[name]}`);
  }
  return adapted;
}

function start(name: string, argv: string[], cwd: string, env: Record<string, string>): Running {
  const [command, ...args] = argv;
  if (!command) throw new Error(`${name} has no command`);
  const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => (output = (output + chunk.toString('utf8')).slice(-8_000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  log(`started ${name}: ${argv.join(' ')} (pid ${child.pid ?? '?'})`);
  return { name, child, output: () => output };
}

async function waitReady(url: string, processes: Running[]): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  while (Date.now() < deadline) {
    const dead = processes.find((p) => p.child.exitCode !== null || p.child.signalCode !== null);
    if (dead) throw new Error(`${dead.name} exited during start-up:\n${dead.output()}`);
    try {
      const res = await fetch(url);
      if (res.status === 200) return;
      last = `${res.status} ${await res.text()}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await sleep(500);
  }
  throw new Error(`${url} not ready after ${READY_TIMEOUT_MS} ms: ${last}`);
}

function rssMb(pid: number | undefined): string {
  const status = pid ? readFileSync(`/proc/${pid}/status`, 'utf8') : '';
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  return `${Math.round(kb / 1024)} MB`;
}

async function stop(running: Running): Promise<void> {
  const { child } = running;
  if (child.exitCode !== null || child.signalCode !== null)
    throw new Error(`${running.name} had already exited`);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  if (child.exitCode !== 0) {
    throw new Error(
      `${running.name} did not stop cleanly on SIGTERM (${child.signalCode ?? child.exitCode})`,
    );
  }
}

async function main(argv: string[]): Promise<void> {
  const startedMs = Date.now();
  const runId = `${Date.now().toString(36)}${process.pid.toString(36)}`;
  const scratch = mkdtempSync(join(tmpdir(), 'redpacket-image-'));
  /** Run last-registered first; each may return a promise. */
  const cleanups: (() => unknown)[] = [];
  if (!argv.includes('--keep')) cleanups.push(() => rmSync(scratch, { recursive: true, force: true }));
  try {
    const stages = replayBuild({
      stages: readDockerfile(join(ROOT, 'Dockerfile')),
      contextDir: ROOT,
      scratchDir: scratch,
      log,
    });
    const runtime = stages.at(-1) as BuiltStage;
    checkRuntime(runtime);

    // The compose file's postgres (with its database), redis and temporal services, as this machine has them.
    const base = loadConfig({ NODE_ENV: 'development' });
    const database = withDatabase(base.database.url, `rp_image_${runId}`);
    const config = loadConfig({ NODE_ENV: 'development', DATABASE_URL: database });
    await ensurePostgres(config, log);
    cleanups.unshift(() => dropDatabase(database));
    await ensureRedis(config, log);
    const cli = await findTemporalCli(config.temporal.cliPath, log);
    const server = await startDevServer({
      cliPath: cli,
      port: await freePort(),
      namespace: config.temporal.namespace,
    });
    cleanups.unshift(() => server.stop());
    registerSearchAttributes(cli, server.address, config.temporal.namespace);

    const compose = readCompose(join(ROOT, 'docker-compose.yml'));
    const shell = { AUTH_SECRET: randomBytes(24).toString('hex') };
    const isolation = {
      REDIS_KEY_PREFIX: `rp:image:${runId}:`,
      TEMPORAL_TASK_QUEUE: `image-${runId}`,
      PORT: String(await freePort()),
    };
    log(`environment from docker-compose.yml, adapted to this machine (run ${runId}):`);
    const processes: Running[] = [];
    cleanups.unshift(() => {
      for (const p of processes)
        if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    });
    for (const service of appServices(compose)) {
      log(` ${service}:`);
      const env = {
        ...adapt(serviceEnvironment(compose, service, shell), { config, database, temporal: server.address }),
        ...isolation,
      };
      const command = serviceCommand(compose, service) ?? runtime.cmd;
      if (!command) throw new Error(`${service} has no command and the image no CMD`);
      processes.push(
        start(
          service,
          command,
          hostPath(runtime, '.'),
          imageEnv({ ...runtime.env, ...env }, join(scratch, 'home')),
        ),
      );
    }
    cleanups.unshift(async () => {
      const redis = createRedis(loadConfig({ REDIS_KEY_PREFIX: isolation.REDIS_KEY_PREFIX }), {
        lazyConnect: true,
      });
      await redis.client.connect();
      await deleteByPrefix(redis.client, redis.keys).finally(() => redis.close());
    });

    await waitReady(`http://127.0.0.1:${isolation.PORT}/readyz`, processes);
    log('/readyz answered 200');
    const connection = await Connection.connect({ address: server.address });
    try {
      const client = new Client({ connection, namespace: config.temporal.namespace });
      const result: unknown = await client.workflow.execute('selfCheckWorkflow', {
        taskQueue: isolation.TEMPORAL_TASK_QUEUE,
        workflowId: `image-selfcheck-${runId}`,
        args: [runId],
        workflowExecutionTimeout: '60 seconds',
      });
      log(`the worker ran selfCheckWorkflow from its prebuilt bundle: ${JSON.stringify(result)}`);
    } finally {
      await connection.close();
    }
    log(`RSS after start: ${processes.map((p) => `${p.name} ${rssMb(p.child.pid)}`).join(', ')}`);
    for (const p of processes) await stop(p);
    log(
      `both stopped cleanly on SIGTERM; image check passed in ${Math.round((Date.now() - startedMs) / 1000)} s`,
    );
  } finally {
    for (const cleanup of cleanups) {
      try {
        await cleanup();
      } catch (err) {
        log(`cleanup: ${String(err)}`);
      }
    }
    if (argv.includes('--keep')) log(`kept ${scratch}`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`[image] FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
