/**
 * Scenario 8, `--only tcluster` (issue 29): the packet lifecycle on the two-node temporal-server on Postgres
 * against the dev server, in the same run. A second service (API and worker, its own database and key prefix,
 * compose's environment; bench/sideService.ts) runs with TEMPORAL_ADDRESS naming node 0's frontend of a
 * cluster the bench starts (bench/engines.ts: 8 history shards, as every local cluster has); the bench's own
 * service stays on the dev server. Rounds alternate between them (bench/engineRounds.ts `roundOrder`), each a
 * lifecycle round (scenarios/lifecycleRound.ts). Reported, with no goal: the send rate and Temporal's CPU per
 * packet on each, and their ratios (medians of the rounds). Temporal's idle CPU (the cluster's membership
 * heartbeats and shard upkeep, the dev server's timers) is measured first and shown beside it.
 */
import { audit } from '../audit';
import type { Cleanup } from '../cleanup';
import { phase, quiesce, type BenchContext } from '../context';
import { startBenchTemporalCluster, stopReferences, waitForPostgresHeadroom } from '../engines';
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
import { log, sleep } from '../progress';
import { startSideService, type SideService } from '../sideService';
import { warmSide } from './sideWarmup';
import { lifecycleRound, LIFECYCLE_SHARES, type LifecycleTarget } from './lifecycleRound';

const SCENARIO = '8. Temporal cluster';
const ROUNDS = 3;
/** Packets per round: at most scenario 4's sends, and few enough that three rounds a side fit in minutes. */
const MAX_PACKETS = 200;
const IDLE_MS = 5_000;
const NAMES: Record<Side, string> = { one: 'dev server', distributed: 'two nodes on Postgres' };

type Series = Record<Side, number[]>;
const series = (): Series => ({ one: [], distributed: [] });

/** Cores each Temporal burns doing nothing, over IDLE_MS with both services idle. */
async function idleCores(ctx: BenchContext, quiet: readonly string[]): Promise<Record<Side, number>> {
  await quiesce(ctx, 'Temporal idle', quiet);
  const mark = ctx.world.procs.cpuMark();
  await sleep(IDLE_MS);
  const seconds = ctx.world.procs.cpuSince(mark);
  const cores = (side: Side) => sumOver(seconds, ENGINE_PROCESSES.temporal[side]) / (IDLE_MS / 1000);
  return { one: cores('one'), distributed: cores('distributed') };
}

async function rounds(ctx: BenchContext, side: SideService, historyDatabase: string): Promise<void> {
  const sideApi = await ServiceApi.create(side.url, ctx.api.secret, ctx.sizes.stormConcurrency);
  const quiet = ['api', 'worker', 'temporal', `api-${side.tag}`, `worker-${side.tag}`];
  const targets: Record<Side, LifecycleTarget> = {
    one: { api: ctx.api, service: ctx.world.service, quiet },
    distributed: { api: sideApi, service: side, quiet },
  };
  const packets = Math.min(MAX_PACKETS, ctx.sizes.sends);
  try {
    await warmSide(ctx, side, sideApi);
    const idle = await idleCores(ctx, quiet);
    const sendRates = series();
    const temporalMs = series();
    const sendTemporalMs = series();
    const totalMs = series();
    const commits: number[] = [];
    for (const [round, order] of roundOrder(ROUNDS).entries()) {
      for (const which of order) {
        const name = which === 'one' ? 'dev' : 'cluster';
        await waitForPostgresHeadroom(ctx, `tc.${name}.${round + 1}`);
        const commitsBefore = which === 'distributed' ? await commitCount(ctx, historyDatabase) : 0;
        const result = await lifecycleRound(
          ctx,
          targets[which],
          packets,
          `tc.${name}.${round + 1}`,
          `8. ${NAMES[which]}, round ${round + 1}`,
        );
        const paid = Math.max(1, result.send.count);
        sendRates[which].push(result.send.perSecond);
        temporalMs[which].push(
          sumOver(result.lifecycle.cpuMsPerUnit ?? {}, ENGINE_PROCESSES.temporal[which]),
        );
        sendTemporalMs[which].push(sumOver(result.send.cpuMsPerUnit ?? {}, ENGINE_PROCESSES.temporal[which]));
        totalMs[which].push(Object.values(result.lifecycle.cpuMsPerUnit ?? {}).reduce((a, b) => a + b, 0));
        if (which === 'distributed') {
          // Postgres publishes its counters about once a second.
          await sleep(1_500);
          commits.push(((await commitCount(ctx, historyDatabase)) - commitsBefore) / paid);
        }
        if (result.unsettled > 0) ctx.report.note(`tc.${name}.${round + 1}: ${result.unsettled} unsettled`);
      }
    }
    const fact = (key: string, value: string) => ctx.report.fact(SCENARIO, key, value);
    fact('packets per round', `${packets} of ${LIFECYCLE_SHARES} shares`);
    for (const which of ['one', 'distributed'] as const) {
      const name = NAMES[which];
      fact(`Temporal idle cores, ${name}`, idle[which].toFixed(3));
      fact(`send rounds on the ${name}, packets/s`, formatRounds(sendRates[which], 1));
      fact(`Temporal CPU ms per packet (lifecycle) on the ${name}`, formatRounds(temporalMs[which], 1));
      fact(`Temporal CPU ms per packet (sends alone) on the ${name}`, formatRounds(sendTemporalMs[which], 1));
      fact(`all processes' CPU ms per packet (lifecycle) on the ${name}`, formatRounds(totalMs[which], 1));
    }
    fact('history database commits per packet (cluster)', formatRounds(commits, 0));
    const sends = judgeRatio(sendRates);
    const cpu = judgeRatio(temporalMs);
    const total = judgeRatio(totalMs);
    fact('send rate, cluster vs dev server (medians)', describeVerdict(sends, '/s', 1));
    fact('Temporal CPU per packet, cluster vs dev server (medians)', describeVerdict(cpu, ' ms', 1));
    fact('all CPU per packet, cluster vs dev server (medians)', describeVerdict(total, ' ms', 1));
  } finally {
    sideApi.http.close();
  }
}

/** Transactions committed in a database so far (pg_stat_database, server-wide, readable from any database). */
async function commitCount(ctx: BenchContext, database: string): Promise<number> {
  const { rows } = await ctx.world.service.db.query<{ n: string }>(
    'SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = $1',
    [database],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Starts the cluster and the side service, runs the rounds as one phase, and audits the side's money too. */
export async function temporalClusterPhase(ctx: BenchContext, cleanup: Cleanup): Promise<void> {
  const { world } = ctx;
  if (!world.local)
    return ctx.report.note('Temporal cluster: skipped with --url (the bench starts both services)');
  await stopReferences(ctx);
  const namespace = world.service.config.temporal.namespace;
  const cluster = await startBenchTemporalCluster(
    { runId: world.runId, cliPath: world.cliPath, postgresUrl: world.service.config.database.url, namespace },
    world.procs,
    cleanup,
  );
  if (!cluster.ok) {
    log(`Temporal cluster: skipped, ${cluster.reason}`);
    return ctx.report.note(`Temporal cluster: skipped, ${cluster.reason}`);
  }
  const side = await startSideService(
    {
      runId: world.runId,
      tag: 'tc',
      base: world.service.config,
      redisUrl: world.service.config.redis.url,
      temporalAddress: cluster.value.address,
      namespace,
    },
    { cliPath: world.cliPath, newNamespace: false },
    cleanup,
  );
  world.procs.add('api-tc', side.api.pid);
  world.procs.add('worker-tc', side.worker.pid);
  ctx.report.fact(
    SCENARIO,
    'Temporal cluster',
    `${cluster.value.nodes.map((node) => node.address).join(', ')} on ${cluster.value.databases.history}; ` +
      `the service reaches node 0's frontend`,
  );
  await phase(ctx, SCENARIO, () => rounds(ctx, side, cluster.value.databases.history));
  ctx.report.data.audits.push(await audit(side.db, SCENARIO, 'Temporal cluster service'));
}
