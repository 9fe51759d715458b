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
import { buildApp } from '../../api/app';
import { createWorker } from '../../workers/createWorker';
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
  /** Starts a worker on this file's task queue; it is stopped by close(). */
  startWorker(overrides?: Parameters<typeof createWorker>[0]['overrides']): Promise<Worker>;
  app(): ReturnType<typeof buildApp>;
  close(): Promise<void>;
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
    TEMPORAL_ADDRESS: run.temporalAddress,
    TEMPORAL_TASK_QUEUE: `test-${id}`,
    PACKET_MIN_EXPIRY_SECONDS: '1',
    ...env,
  });
  const db = createDb(config, { applicationName: `test-${id}` });
  await migrate(db);
  const redis = createRedis(config);
  const temporal = createTemporal(config);
  const workers: { worker: Worker; running: Promise<void>; connection: NativeConnection }[] = [];

  return {
    config,
    db,
    redis,
    temporal,
    async startWorker(overrides) {
      const connection = await NativeConnection.connect({ address: config.temporal.address });
      const worker = await createWorker({
        connection,
        namespace: config.temporal.namespace,
        taskQueue: config.temporal.taskQueue,
        deps: { db, redis },
        workflowBundle: { codePath: run.bundlePath },
        overrides,
      });
      workers.push({ worker, connection, running: worker.run() });
      return worker;
    },
    app: () => buildApp({ config, log: createLogger(config, 'test-api'), db, redis, temporal }),
    async close() {
      for (const { worker, running, connection } of workers) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
        await running.catch(() => undefined);
        await connection.close();
      }
      await db.query(`DROP SCHEMA IF EXISTS ${config.database.schema} CASCADE`);
      await db.close();
      await deleteByPrefix(redis.client, redis.keys).catch(() => undefined);
      await redis.close();
      await temporal.close();
    },
  };
}
