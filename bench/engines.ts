/**
 * The distributed engines the issue-29 phases measure, started by the bench with the project's own scripts
 * and removed by its cleanup: a Redis Cluster of three masters and three replicas (scripts/lib/redisCluster.ts,
 * as the tests and the chaos harness start it) and the two-node temporal-server on Postgres
 * (scripts/lib/temporalCluster.ts). Each says why when it cannot start here, and the phase is then skipped
 * with that reason in the report rather than failing the run. Their processes join the CPU sampler under the
 * names bench/engineRounds.ts lists, so the report's CPU table counts them in its redis and temporal columns.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Config } from '../config';
import type { RedisClient } from '../redis';
import { freePortBlock, startRedisCluster, type RedisClusterProcess } from '../scripts/lib/redisCluster';
import { registerSearchAttributes } from '../scripts/lib/temporalCli';
import {
  CLUSTER_PORT_BASES,
  LOCAL_HISTORY_SHARDS,
  startTemporalCluster,
  type TemporalCluster,
} from '../scripts/lib/temporalCluster';
import { cachedTemporalServer, temporalServerCacheDir } from '../scripts/lib/temporalServer';
import type { Cleanup } from './cleanup';
import type { BenchContext } from './context';
import { ONE_REDIS_PROCESS, REDIS_CLUSTER_PROCESSES, TEMPORAL_NODE_PROCESSES } from './engineRounds';
import { log, sleep } from './progress';
import type { ProcSampler } from './procstats';

/**
 * The bench's Redis Cluster ports: 7200-7299 (bus ports 17200-17299), next to the tests' 7100-7199, so a
 * bench and a Redis Cluster test run on this machine at the same time never race for one block.
 */
const BENCH_REDIS_CLUSTER_PORTS = { from: 7200, to: 7300 } as const;

/**
 * Stops the reference servers, which the engine phases do not use: their idle pool holds 20 Postgres
 * connections, and with a second service and the Temporal cluster's own pools (about 30 idle) the bench
 * reached this machine's max_connections (100) and the API answered "too many clients" (measured on
 * 2026-12-07 from pg_stat_activity: 97 connections, 20 of them the references'). Later phases that need the
 * references run before these (bench/main.ts), so none is left without them.
 */
export async function stopReferences(ctx: BenchContext): Promise<void> {
  const { refs } = ctx.world;
  if (refs.server.exited() && refs.worker.exited()) return;
  await Promise.all([refs.server.stop(), refs.worker.stop()]);
  log('reference servers stopped: the engine phases do not use them, and need their Postgres connections');
}

/** Postgres connections a lifecycle round adds at most: one service's pools growing to 20 + 20, and Temporal's. */
const ROUND_CONNECTIONS = 40;
const HEADROOM_WAIT_MS = 90_000;
const HEADROOM_POLL_MS = 1_000;

/**
 * Waits (bounded) until Postgres has room for a round: the other side's pools (20 per process, compose's
 * DATABASE_POOL_MAX) close their idle connections after 30 s, and two services plus the Temporal cluster at
 * full pools are more than this machine's max_connections. Returns the seconds waited.
 */
export async function waitForPostgresHeadroom(ctx: BenchContext, label: string): Promise<number> {
  const startedMs = Date.now();
  for (;;) {
    const { rows } = await ctx.world.service.db.query<{ free: number }>(
      `SELECT current_setting('max_connections')::int - count(*)::int AS free FROM pg_stat_activity`,
    );
    const free = rows[0]?.free ?? 0;
    const waitedS = (Date.now() - startedMs) / 1000;
    if (free >= ROUND_CONNECTIONS || Date.now() - startedMs > HEADROOM_WAIT_MS) {
      if (waitedS > 2)
        log(`${label}: waited ${waitedS.toFixed(0)} s for Postgres connections (${free} free)`);
      return waitedS;
    }
    await sleep(HEADROOM_POLL_MS);
  }
}

export type Started<T> = { ok: true; value: T } | { ok: false; reason: string };

function onPath(binary: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

/** A 3+3 Redis Cluster on free ports of the bench's block, stopped (and its files removed) by cleanup. */
export async function startBenchRedisCluster(
  runId: string,
  procs: ProcSampler,
  cleanup: Cleanup,
): Promise<Started<RedisClusterProcess>> {
  const missing = ['redis-server', 'redis-cli'].filter((binary) => !onPath(binary));
  if (missing.length > 0) return { ok: false, reason: `${missing.join(' and ')} not installed` };
  const basePort = await freePortBlock(BENCH_REDIS_CLUSTER_PORTS.from, BENCH_REDIS_CLUSTER_PORTS.to);
  const cluster = await startRedisCluster({ basePort, dir: join(tmpdir(), `rcluster-bench-${runId}`) });
  cleanup.add('stop the bench Redis Cluster', () => cluster.stop());
  cluster.nodes.forEach((node, index) => {
    if (node.child.pid !== undefined) procs.add(REDIS_CLUSTER_PROCESSES[index] as string, node.child.pid);
  });
  log(`Redis Cluster (3 masters, 3 replicas) on ${basePort}-${basePort + 5} in ${cluster.startMs} ms`);
  return { ok: true, value: cluster };
}

/**
 * Samples the machine's one Redis, the bench service's, so its CPU is set against the cluster's: its pid is
 * the server's own answer (INFO server), usable only when it runs on this machine.
 */
export async function sampleOneRedis(client: RedisClient, config: Config, procs: ProcSampler) {
  const host = new URL(config.redis.url).hostname;
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(host)) return false;
  const info = await client.info('server');
  const pid = Number(/process_id:(\d+)/.exec(info)?.[1]);
  if (!Number.isInteger(pid) || !existsSync(`/proc/${pid}/stat`)) return false;
  procs.add(ONE_REDIS_PROCESS, pid);
  return true;
}

/**
 * The two-node temporal-server on a Postgres database of its own (dropped by cleanup), with the service's
 * search attributes. The binary is provisioned, never built here: `npm run provision:temporal-server` is the
 * documented way, and a bench that silently spent minutes in a Go build would measure nothing meanwhile.
 */
export async function startBenchTemporalCluster(
  plan: { runId: string; cliPath: string; postgresUrl: string; namespace: string },
  procs: ProcSampler,
  cleanup: Cleanup,
): Promise<Started<TemporalCluster>> {
  const binaries = cachedTemporalServer();
  if (!binaries)
    return {
      ok: false,
      reason: `temporal-server is not in ${temporalServerCacheDir()}: run \`npm run provision:temporal-server\` first`,
    };
  const cluster = await startTemporalCluster({
    binaries,
    cliPath: plan.cliPath,
    postgresUrl: plan.postgresUrl,
    databaseName: `tcluster_bench_${plan.runId}`,
    portBase: CLUSTER_PORT_BASES.bench,
    dir: join(tmpdir(), `tcluster-bench-${plan.runId}`),
    namespaces: [plan.namespace],
    numHistoryShards: LOCAL_HISTORY_SHARDS,
    log,
    throwaway: true,
  });
  cleanup.add('stop the bench Temporal cluster and drop its databases', () => cluster.destroy());
  registerSearchAttributes(plan.cliPath, cluster.address, plan.namespace);
  cluster.nodes.forEach((node, index) => {
    const pid = node.child?.pid;
    if (pid !== undefined) procs.add(TEMPORAL_NODE_PROCESSES[index] as string, pid);
  });
  return { ok: true, value: cluster };
}
