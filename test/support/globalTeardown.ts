/** Removes what global setup made: the dev server process, the test database, the run's Redis keys, the bundle. */
import { rmSync } from 'node:fs';
import { loadConfig } from '../../config';
import { dropDatabase } from '../../db/admin';
import { createRedis, deleteByPrefix } from '../../redis';
import type { RedisClusterProcess } from '../../scripts/lib/redisCluster';
import type { DevServer } from '../../scripts/lib/temporalCli';
import { getRunState } from './runState';

export default async function globalTeardown(): Promise<void> {
  const state = getRunState();
  const server = (globalThis as { __temporalDevServer?: DevServer }).__temporalDevServer;
  await server?.stop();
  await dropDatabase(state.databaseUrl).catch((err: unknown) => {
    process.stderr.write(`[test teardown] could not drop the test database: ${String(err)}\n`);
  });
  // Connected before the first command: the client queues nothing offline, so a command sent while it
  // connects would fail and leave the run's keys behind.
  const cluster = (globalThis as { __redisCluster?: RedisClusterProcess }).__redisCluster;
  if (cluster) {
    // The cluster's keys go with its processes.
    await cluster.stop();
    rmSync(state.bundlePath, { force: true });
    return;
  }
  const redis = createRedis(loadConfig({ REDIS_KEY_PREFIX: state.redisKeyPrefix }), { lazyConnect: true });
  try {
    await redis.client.connect();
    await deleteByPrefix(redis.client, redis.keys);
  } catch {
    // Redis may have been stopped by a fault test; its keys die with its memory.
  } finally {
    await redis.close();
  }
  rmSync(state.bundlePath, { force: true });
}
