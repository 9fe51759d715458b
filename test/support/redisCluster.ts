/**
 * The test run's Redis Cluster: with REDPACKET_TEST_REDIS=cluster, global setup starts three masters and
 * three replicas (scripts/lib/redisCluster.ts) on free ports of this project's range, and every harness
 * talks to it instead of the machine's Redis. Global teardown stops it.
 */
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePortBlock, startRedisCluster, type RedisClusterProcess } from '../../scripts/lib/redisCluster';

/** Ports for test clusters (their bus ports are 10000 higher). */
export const CLUSTER_PORTS = { from: 7100, to: 7200 } as const;

export function clusterRequested(): boolean {
  return process.env['REDPACKET_TEST_REDIS'] === 'cluster';
}

/** A cluster of its own for one test file, on the next free ports; the caller stops it. */
export async function startOwnCluster(tag: string): Promise<RedisClusterProcess> {
  const basePort = await freePortBlock(CLUSTER_PORTS.from, CLUSTER_PORTS.to);
  return startRedisCluster({ basePort, dir: join(tmpdir(), `rcluster-${tag}-${basePort}`) });
}

export async function startTestRedisCluster(
  runId: string,
  log: (line: string) => void,
): Promise<RedisClusterProcess | undefined> {
  if (!clusterRequested()) return undefined;
  const cluster = await startOwnCluster(runId);
  (globalThis as { __redisCluster?: RedisClusterProcess }).__redisCluster = cluster;
  log(`Redis Cluster ${cluster.url} (3 masters, 3 replicas) started in ${cluster.startMs} ms`);
  return cluster;
}
