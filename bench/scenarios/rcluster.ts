/**
 * Scenario 7, `--only rcluster` (issue 29): the service on a 3-master Redis Cluster against the same service
 * on one Redis, in the same run. A second service (API and worker, its own database, key prefix and
 * namespace, compose's environment; bench/sideService.ts) runs with REDIS_URL naming a cluster the bench
 * starts (three masters, three replicas; bench/engines.ts); the bench's own service stays on the machine's
 * Redis. Rounds alternate between them (bench/engineRounds.ts `roundOrder`): the storm (grab-then-open,
 * full API) and spread opens (scenarios/spreadRound.ts). Each round is a figure of its own; the goal is the
 * median of the cluster's rounds at least 0.9x the median of one Redis's, storm and spread each.
 */
import { audit } from '../audit';
import type { Cleanup } from '../cleanup';
import { phase, quiesce, type BenchContext } from '../context';
import { sampleOneRedis, startBenchRedisCluster, stopReferences } from '../engines';
import {
  describeVerdict,
  ENGINE_PROCESSES,
  formatRounds,
  judgeRatio,
  roundOrder,
  sumOver,
  type Side,
} from '../engineRounds';
import { ServiceApi } from '../fixtures';
import { STORM_SHARES } from '../options';
import { log } from '../progress';
import { startSideService, type SideService } from '../sideService';
import { figure, summarize } from '../stats';
import { sideStormTarget, warmSide } from './sideWarmup';
import { spreadRound, type SpreadTarget } from './spreadRound';
import { apiStorm, defaultStormTarget, type StormTarget } from './storm';

const SCENARIO = '7. Redis Cluster';
const ROUNDS = 3;
/** Issue 29: the cluster's storm and spread at least 0.9x one Redis's on this machine. */
export const REDIS_CLUSTER_GOAL = 0.9;
const NAMES: Record<Side, string> = { one: 'one Redis', distributed: 'Redis Cluster' };

interface Sides {
  storm: Record<Side, StormTarget>;
  spread: Record<Side, SpreadTarget>;
  /** Sampler names of each side's API (for API CPU per unit). */
  api: Record<Side, string>;
  /** Both services' processes: every round waits for both to be idle, so neither pays for the other. */
  quiet: readonly string[];
}

function sidesOf(ctx: BenchContext, side: SideService, sideApi: ServiceApi): Sides {
  const quiet = ['api', 'worker', 'temporal', `api-${side.tag}`, `worker-${side.tag}`];
  return {
    storm: { one: defaultStormTarget(ctx), distributed: sideStormTarget(ctx, side, sideApi) },
    spread: {
      one: { api: ctx.api, service: ctx.world.service, quiet },
      distributed: { api: sideApi, service: side, quiet },
    },
    api: { one: 'api', distributed: `api-${side.tag}` },
    quiet,
  };
}

type Series = Record<Side, number[]>;
const series = (): Series => ({ one: [], distributed: [] });

async function stormRounds(ctx: BenchContext, sides: Sides): Promise<Series> {
  const rates = series();
  const p99s = series();
  const apiCpu = series();
  const redisCpu = series();
  for (const [round, order] of roundOrder(ROUNDS).entries()) {
    for (const side of order) {
      const tag = `rc${side === 'one' ? 'one' : 'cluster'}${round + 1}`;
      await quiesce(ctx, tag, sides.quiet);
      const storm = await apiStorm(ctx, tag, ctx.sizes.stormClients, sides.storm[side]);
      const measured = ctx.report.add(
        storm.meter(
          figure({
            id: `rc.storm.${side === 'one' ? 'one' : 'cluster'}.${round + 1}`,
            label: `7. storm on ${NAMES[side]}, round ${round + 1}: grab-then-open, full API`,
            unit: 'clients',
            count: storm.run.count,
            durationMs: storm.run.durationMs,
            latencies: storm.run.latenciesMs,
            errors: storm.run.errors,
            notes: [`${storm.claims} claims, all credited: ${storm.credited}`, ...storm.run.errorExamples],
          }),
        ),
      );
      rates[side].push(measured.perSecond);
      p99s[side].push(summarize(storm.run.latenciesMs).p99Ms);
      const cpu = measured.cpuMsPerUnit ?? {};
      apiCpu[side].push(sumOver(cpu, [sides.api[side]]) * 1000);
      redisCpu[side].push(sumOver(cpu, ENGINE_PROCESSES.redis[side]) * 1000);
      if (storm.claims !== STORM_SHARES || !storm.credited)
        ctx.report.note(`${tag}: ${storm.claims} claims, all credited: ${storm.credited}`);
    }
  }
  const fact = (key: string, value: string) => ctx.report.fact(SCENARIO, key, value);
  for (const side of ['one', 'distributed'] as const) {
    fact(`storm rounds on ${NAMES[side]}, clients/s`, formatRounds(rates[side]));
    fact(`storm p99 ms on ${NAMES[side]}`, formatRounds(p99s[side]));
    fact(`storm API CPU us per client on ${NAMES[side]}`, formatRounds(apiCpu[side]));
    fact(`storm Redis CPU us per client on ${NAMES[side]}`, formatRounds(redisCpu[side]));
  }
  return rates;
}

async function spreadRounds(ctx: BenchContext, sides: Sides): Promise<Series> {
  const rates = series();
  const lags = series();
  const apiCpu = series();
  const redisCpu = series();
  for (const [round, order] of roundOrder(ROUNDS).entries()) {
    for (const side of order) {
      const name = side === 'one' ? 'one' : 'cluster';
      const result = await spreadRound(
        ctx,
        sides.spread[side],
        `rc.spread.${name}.${round + 1}`,
        `7. spread opens on ${NAMES[side]}, round ${round + 1}: fresh packets round robin, closed loop`,
      );
      rates[side].push(result.opensPerSecond);
      lags[side].push(result.creditLagP99Ms);
      const cpu = result.figure.cpuMsPerUnit ?? {};
      apiCpu[side].push(sumOver(cpu, [sides.api[side]]) * 1000);
      redisCpu[side].push(sumOver(cpu, ENGINE_PROCESSES.redis[side]) * 1000);
      if (result.uncredited > 0)
        ctx.report.note(`rc.spread.${name}.${round + 1}: ${result.uncredited} claims uncredited in time`);
    }
  }
  const fact = (key: string, value: string) => ctx.report.fact(SCENARIO, key, value);
  for (const side of ['one', 'distributed'] as const) {
    fact(`spread rounds on ${NAMES[side]}, opens/s`, formatRounds(rates[side]));
    fact(`spread credit lag p99 ms on ${NAMES[side]}`, formatRounds(lags[side]));
    fact(`spread API CPU us per open on ${NAMES[side]}`, formatRounds(apiCpu[side]));
    fact(`spread Redis CPU us per open on ${NAMES[side]}`, formatRounds(redisCpu[side]));
  }
  return rates;
}

async function rounds(ctx: BenchContext, side: SideService): Promise<void> {
  const sideApi = await ServiceApi.create(side.url, ctx.api.secret, ctx.sizes.stormConcurrency);
  try {
    await warmSide(ctx, side, sideApi);
    const sides = sidesOf(ctx, side, sideApi);
    log(`storm rounds: one Redis and the Redis Cluster alternately (${ROUNDS} each)`);
    const storm = judgeRatio(await stormRounds(ctx, sides), REDIS_CLUSTER_GOAL);
    log(`spread rounds: one Redis and the Redis Cluster alternately (${ROUNDS} each)`);
    const spread = judgeRatio(await spreadRounds(ctx, sides), REDIS_CLUSTER_GOAL);
    const goal = (what: string, verdict: typeof storm, unit: string) =>
      ctx.report.goal(
        SCENARIO,
        `${what} on a 3-master Redis Cluster >= ${REDIS_CLUSTER_GOAL}x one Redis (medians of ${ROUNDS} rounds, same run)`,
        describeVerdict(verdict, unit),
        verdict.met === true,
      );
    goal('storm', storm, '/s');
    goal('spread opens', spread, '/s');
  } finally {
    sideApi.http.close();
  }
}

/** Starts the cluster and the side service, runs the rounds as one phase, and audits the side's money too. */
export async function redisClusterPhase(ctx: BenchContext, cleanup: Cleanup): Promise<void> {
  const { world } = ctx;
  if (!world.local)
    return ctx.report.note('Redis Cluster: skipped with --url (the bench starts both services)');
  await stopReferences(ctx);
  const cluster = await startBenchRedisCluster(world.runId, world.procs, cleanup);
  if (!cluster.ok) return ctx.report.note(`Redis Cluster: skipped, ${cluster.reason}`);
  if (!(await sampleOneRedis(world.redis.client, world.service.config, world.procs)))
    ctx.report.note("Redis Cluster: the one Redis is not on this machine, so its CPU is in 'other'");
  const side = await startSideService(
    {
      runId: world.runId,
      tag: 'rc',
      base: world.service.config,
      redisUrl: cluster.value.url,
      temporalAddress: world.temporalAddress,
      namespace: 'rp-rc',
    },
    { cliPath: world.cliPath, newNamespace: true },
    cleanup,
  );
  world.procs.add('api-rc', side.api.pid);
  world.procs.add('worker-rc', side.worker.pid);
  ctx.report.fact(SCENARIO, 'Redis Cluster', `${cluster.value.url} (3 masters, 3 replicas)`);
  await phase(ctx, SCENARIO, () => rounds(ctx, side));
  ctx.report.data.audits.push(await audit(side.db, SCENARIO, 'Redis Cluster service'));
  // Its pools and pumps hold Postgres connections even idle; a later phase's services need them (engines.ts).
  await Promise.all([side.api.stop(), side.worker.stop()]);
}
