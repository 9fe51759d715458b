/**
 * One isolated world per test file: a fresh Postgres schema (migrated), a Redis key prefix, a Temporal task
 * queue, and on demand a worker on the prebuilt bundle and the Express app. `close()` removes all of it.
 */
import { randomBytes } from 'node:crypto';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { loadConfig, type Config, type Env } from '../../config';
import { createLogger } from '../../config/logger';
import { createDb, type Db } from '../../db';
import { migrate } from '../../db/migrate';
import { createRedis, deleteByPrefix, type RedisDeps } from '../../redis';
import { createTemporal, type TemporalDeps } from '../../temporal/client';
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import type { Express } from 'express';
import { createApp, type AppContext, type AppDeps, type AppOptions } from '../../api/app';
import { FixedPressure } from '../../api/overload/pressure';
import { signToken } from '../../api/auth';
import type { ActivityDeps } from '../../activities';
import { startCreditPumps } from '../../workers/creditPumps';
import { createWorker } from '../../workers/createWorker';
import { creditPumpWorkflowId, settlePumpWorkflowId } from '../../saga';
import { startSettlePumps } from '../../workers/settlePumps';
import { getRunState } from './runState';

// Worker state changes at INFO drown test output; warnings and errors still show.
try {
  Runtime.install({ logger: new DefaultLogger('WARN') });
} catch {
  // Already installed by another harness in this worker process.
}

export interface Harness {
  config: Config;
  db: Db;
  redis: RedisDeps;
  temporal: TemporalDeps;
  /**
   * Starts a worker on this file's task queue and this file's credit pumps (idempotently); the worker is
   * stopped and the pumps terminated by close().
   */
  startWorker(
    overrides?: Parameters<typeof createWorker>[0]['overrides'],
    deps?: Partial<ActivityDeps>,
  ): Promise<Worker>;
  /** Stops every worker this harness started (pumps keep their workflows and wait for the next one). */
  stopWorkers(): Promise<void>;
  /** Starts this file's credit pumps if they are not running (startWorker does it too). */
  startPumps(): Promise<void>;
  /** Terminates this file's credit pumps (they are started again by the next startWorker). */
  stopPumps(): Promise<void>;
  /** The Express app on this file's clients; `deps` replaces some of them (e.g. a Redis that is down). */
  app(deps?: Partial<AppDeps>, options?: AppOptions): Express;
  /** Like app(), and also returns the app's context (idempotency store, metrics, rate limits). */
  appWithContext(deps?: Partial<AppDeps>, options?: AppOptions): { app: Express; ctx: AppContext };
  /** Listens on an ephemeral port (closed by close()); for load and fuzz tests that want keep-alive. */
  listen(app?: Express): Promise<{ url: string; server: Server }>;
  /** A bearer token for `userId` signed with this file's AUTH_SECRET. */
  tokenFor(userId: string, options?: { admin?: boolean; ttlSeconds?: number }): Promise<string>;
  /**
   * A Redis client pointed at a closed local port, for degraded-mode tests (the shared Redis keeps running
   * for every other test file). Same key prefix as `redis`; disconnected by close().
   */
  unreachableRedis(): Promise<RedisDeps>;
  /** Sum of all transfer amounts and their count: unchanged means no money moved. */
  ledgerTotals(): Promise<{ transferCount: number; totalFen: number }>;
  close(): Promise<void>;
}

/** The longest stopPumps waits for terminated pumps' runs to end: the pumps' heartbeat timeout and a margin. */
const PUMP_RUN_END_WAIT_MS = 15_000;

/** A port nothing listens on: bound once to learn a free number, then released. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

export async function createHarness(env: Partial<Record<keyof Env, string>> = {}): Promise<Harness> {
  const run = getRunState();
  const id = randomBytes(4).toString('hex');
  const config = loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: run.databaseUrl,
    DATABASE_SCHEMA: `t_${id}`,
    DATABASE_POOL_MAX: '10',
    REDIS_KEY_PREFIX: `${run.redisKeyPrefix}${id}:`,
    ...(run.redisUrl ? { REDIS_URL: run.redisUrl } : {}),
    TEMPORAL_ADDRESS: run.temporalAddress,
    TEMPORAL_TASK_QUEUE: `test-${id}`,
    PACKET_MIN_EXPIRY_SECONDS: '1',
    // Workflow ids are per namespace, which every test file shares: each file gets its own pumps.
    CREDIT_PUMP_ID_PREFIX: `credit-pump-${id}-`,
    SETTLE_PUMP_ID_PREFIX: `settle-pump-${id}-`,
    CREDIT_FINISH_SIGNAL_MIN_SHARES: '1',
    CREDIT_POLL_INTERVAL_MS: '500',
    // The send limit adapts to sends' latency (api/overload/admission.ts); a test whose sends wait on a cold
    // worker or an absent Temporal would cut it for the file's next sends. Tests of shedding set their own.
    OVERLOAD_SEND_LATENCY_TARGET_MS: '600000',
    // The open-latency signal (api/overload/openLatency.ts) is off: a test that holds a packet's row or stops
    // a dependency makes opens slow on purpose, and the grabs of its next steps would be shed for it. Tests
    // of shedding turn it on.
    OVERLOAD_OPEN_LATENCY_TARGET_MS: '0',
    ...env,
  });
  const db = createDb(config, { applicationName: `test-${id}` });
  await migrate(db);
  const redis = createRedis(config);
  // The client refuses commands until it is connected (no offline queue, as in production), so a test that
  // runs its first command at once would see a connection error instead of what it tests.
  if (redis.client.status !== 'ready') await new Promise((resolve) => redis.client.once('ready', resolve));
  const temporal = createTemporal(config);
  const workers: { worker: Worker; running: Promise<void>; connection: NativeConnection }[] = [];
  const servers: Server[] = [];
  const extraRedis: RedisDeps[] = [];
  // Shedding is on, as shipped, with its budgets, but its pressure stays at 0 unless a test sets it: a test
  // process's event loop stalls on jest's own compiles and collections, which would shed requests at random.
  const calm = new FixedPressure(0);
  const appWithContext = (deps: Partial<AppDeps> = {}, options: AppOptions = {}) =>
    createApp(
      { config, log: createLogger(config, 'test-api'), db, redis, temporal, pressure: calm, ...deps },
      options,
    );

  async function stopPumps(): Promise<void> {
    for (let shard = 0; shard < config.credit.shards; shard++) {
      const handle = temporal.client.workflow.getHandle(
        creditPumpWorkflowId(config.credit.pumpIdPrefix, shard),
      );
      await handle.terminate('test finished').catch(() => undefined);
    }
    for (const homeCell of config.cells.all.filter((cell) => cell !== config.cells.self)) {
      const handle = temporal.client.workflow.getHandle(
        settlePumpWorkflowId(config.clearing.pumpIdPrefix, homeCell),
      );
      await handle.terminate('test finished').catch(() => undefined);
    }
    // A pump's run is one long activity: terminating its workflow ends it only when its next heartbeat learns
    // of it (within the heartbeat timeout), and until then it still credits the claims a test opens next.
    const deadlineMs = Date.now() + PUMP_RUN_END_WAIT_MS;
    while (
      workers.some(({ worker }) => worker.getStatus().numInFlightActivities > 0) &&
      Date.now() < deadlineMs
    )
      await new Promise((resolve) => setTimeout(resolve, 50));
  }

  return {
    config,
    db,
    redis,
    temporal,
    async startWorker(overrides, deps) {
      const connection = await NativeConnection.connect({ address: config.temporal.address });
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
          reconcile: { settings: config.reconcile },
          ...deps,
        },
        workflowBundle: { codePath: run.bundlePath },
        overrides,
      });
      workers.push({ worker, connection, running: worker.run() });
      await startCreditPumps(temporal.client, config);
      await startSettlePumps(temporal.client, config);
      return worker;
    },
    async stopWorkers() {
      for (const { worker, running, connection } of workers.splice(0)) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
        await connection.close();
      }
    },
    async startPumps() {
      await startCreditPumps(temporal.client, config);
      await startSettlePumps(temporal.client, config);
    },
    stopPumps,
    app: (deps, options) => appWithContext(deps, options).app,
    appWithContext,
    async listen(app) {
      const server = (app ?? appWithContext().app).listen(0, '127.0.0.1');
      await new Promise<void>((resolve) => server.once('listening', resolve));
      servers.push(server);
      return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
    },
    tokenFor: (userId, options) => signToken(config.auth.secret, userId, options),
    async unreachableRedis() {
      const port = await closedPort();
      const down = createRedis({
        redis: { url: `redis://127.0.0.1:${port}`, keyPrefix: config.redis.keyPrefix },
      });
      extraRedis.push(down);
      return down;
    },
    async ledgerTotals() {
      const { rows } = await db.query<{ n: number; total: number }>(
        'SELECT count(*)::int AS n, coalesce(sum(amount_fen), 0)::bigint AS total FROM transfers',
      );
      return { transferCount: rows[0]?.n ?? 0, totalFen: rows[0]?.total ?? 0 };
    },
    async close() {
      for (const server of servers) {
        server.closeAllConnections();
        await new Promise((resolve) => server.close(resolve));
      }
      for (const { worker, running, connection } of workers) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
        await connection.close();
      }
      // After the workers, so no pump activity is still running to be orphaned by the termination.
      await stopPumps();
      await db.query(`DROP SCHEMA IF EXISTS ${config.database.schema} CASCADE`);
      await db.close();
      await deleteByPrefix(redis.client, redis.keys).catch(() => undefined);
      await redis.close();
      for (const down of extraRedis) await down.close();
      await temporal.close();
    },
  };
}
