/**
 * Runs the fault schedule against the world. Faults on different targets overlap freely; two on the same
 * target (the API, one worker, Temporal, Postgres, Redis, one proxy) queue, since killing a paused process or
 * cutting a cut proxy would not be the fault the schedule names. Every fault ends with its target restored
 * (restarted, resumed, reconnected), so when the executor returns, the faults have stopped.
 */
import { log, sleep } from '../bench/progress';
import type { Component } from './components';
import type { FaultKind } from './options';
import type { PlannedFault } from './schedule';
import type { ChaosWorld } from './world';

export interface FaultRecord {
  kind: FaultKind;
  target: string;
  plannedAtMs: number;
  /** Offsets from the start of the load. */
  startedAtMs: number;
  endedAtMs: number;
  holdMs: number;
  /** Set when restoring the target failed: the run cannot be judged. */
  error?: string;
}

function targetOf(fault: PlannedFault): string {
  if (fault.kind.startsWith('worker')) return `worker${fault.workerIndex}`;
  if (fault.kind === 'cut-api-postgres') return 'proxy-postgres';
  if (fault.kind === 'cut-api-redis') return 'proxy-redis';
  if (fault.kind === 'redis-master-kill') return 'redis';
  return fault.kind.split('-')[0] as string;
}

/** The node a `temporal-node-kill` hits: its drawn index among the nodes the world may lose. */
function nodeOf(world: ChaosWorld, fault: PlannedFault): Component | undefined {
  const nodes = world.temporalNodes ?? [];
  return nodes[fault.workerIndex % Math.max(nodes.length, 1)];
}

function componentOf(world: ChaosWorld, fault: PlannedFault): Component {
  if (fault.kind.startsWith('api')) return world.api;
  if (fault.kind === 'temporal-node-kill') {
    const node = nodeOf(world, fault);
    if (!node) throw new Error('temporal-node-kill needs --temporal cluster');
    return node;
  }
  if (fault.kind.startsWith('temporal')) return world.temporalServer;
  const worker = world.workers[fault.workerIndex];
  if (!worker) throw new Error(`no worker ${fault.workerIndex}`);
  return worker;
}

async function inject(world: ChaosWorld, fault: PlannedFault): Promise<void> {
  const { holdMs } = fault;
  switch (fault.kind) {
    case 'api-kill':
    case 'worker-kill':
    case 'temporal-kill':
    case 'temporal-node-kill': {
      const component = componentOf(world, fault);
      await component.kill();
      await sleep(holdMs);
      await component.start();
      return;
    }
    case 'api-pause':
    case 'worker-pause':
    case 'temporal-pause': {
      const component = componentOf(world, fault);
      component.pause();
      try {
        await sleep(holdMs);
      } finally {
        component.resume();
      }
      return;
    }
    case 'postgres-crash':
      await world.postgres.crash();
      await sleep(holdMs);
      await world.postgres.start();
      return;
    case 'redis-wipe': {
      const redis = world.redis;
      if (!redis) throw new Error('redis-wipe needs one Redis');
      await redis.kill();
      await sleep(holdMs);
      await redis.start();
      return;
    }
    case 'redis-master-kill': {
      const cluster = world.redisCluster;
      if (!cluster) throw new Error('redis-master-kill needs --redis-cluster');
      // Which master is drawn with the schedule (workerIndex is the fault's 0-or-1 draw).
      const masters = (await cluster.masters()).sort((a, b) => a - b);
      const victim = masters[fault.workerIndex % masters.length] as number;
      log(`redis-master-kill: SIGKILL the master on port ${victim}`);
      await cluster.kill(victim);
      await sleep(holdMs);
      await cluster.restart(victim);
      await cluster.waitHealthy(30_000);
      return;
    }
    case 'cut-api-postgres':
    case 'cut-api-redis': {
      const proxy = fault.kind === 'cut-api-postgres' ? world.proxies.postgres : world.proxies.redis;
      if (!proxy) throw new Error(`${fault.kind} needs one Redis`);
      proxy.cut();
      try {
        await sleep(holdMs);
      } finally {
        proxy.restore();
      }
    }
  }
}

/** Injects every planned fault at its offset from `loadStartMs`; resolves when all have ended. */
export async function runFaults(
  world: ChaosWorld,
  plan: readonly PlannedFault[],
  loadStartMs: number,
): Promise<FaultRecord[]> {
  const queues = new Map<string, Promise<void>>();
  const records: FaultRecord[] = [];
  const runs = plan.map(async (fault) => {
    await sleep(Math.max(0, loadStartMs + fault.atMs - Date.now()));
    const target = targetOf(fault);
    const previous = queues.get(target) ?? Promise.resolve();
    const mine = previous.then(async () => {
      // A node fault queues with the whole server's ('temporal') but names its node in the log and report.
      const shown =
        fault.kind === 'temporal-node-kill'
          ? (world.temporalNodes?.[fault.workerIndex % 2]?.name ?? target)
          : target;
      const record: FaultRecord = {
        kind: fault.kind,
        target: shown,
        plannedAtMs: fault.atMs,
        startedAtMs: Date.now() - loadStartMs,
        endedAtMs: 0,
        holdMs: fault.holdMs,
      };
      log(
        `fault ${fault.kind} on ${shown} for ${fault.holdMs} ms at +${(record.startedAtMs / 1000).toFixed(1)} s`,
      );
      try {
        await inject(world, fault);
      } catch (err) {
        record.error = err instanceof Error ? err.message : String(err);
        log(`fault ${fault.kind} on ${target} failed to restore: ${record.error}`);
      }
      record.endedAtMs = Date.now() - loadStartMs;
      records.push(record);
    });
    queues.set(target, mine);
    await mine;
  });
  await Promise.all(runs);
  return records.sort((a, b) => a.startedAtMs - b.startedAtMs);
}
