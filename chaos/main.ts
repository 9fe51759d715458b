/**
 * `npm run chaos`: builds the private world, funds the users, runs the mixed load and the seeded fault
 * schedule together, waits for the heal, then judges the database and Temporal against what every client was
 * told, writes the report and exits 1 on any violation (2 when the run itself could not be carried out).
 */
import { spawnSync } from 'node:child_process';
import { Cleanup, cleanupOnSignals } from '../bench/cleanup';
import { childEnv } from '../bench/env';
import { log, setLogPrefix } from '../bench/progress';
import { runAudit } from '../ledger/audit';
import { cellsMain } from './cellsMain';
import { checkCredits, checkHistory, invariant, type Invariant } from './checker';
import { ChaosClient } from './client';
import { readFacts } from './facts';
import { runFaults } from './faults';
import { heal } from './heal';
import { History } from './history';
import { fundUsers, POOR_USERS, RICH_USERS, runLoad } from './load';
import { parseOptions, type ChaosOptions } from './options';
import { countOps, faultsByKind, writeReport, type ChaosReport } from './report';
import { Rng } from './rng';
import { checkReadsAfterHeal } from './reads';
import { buildSchedule } from './schedule';
import { checkWorkflows, watchCreditStuck } from './workflows';
import type { ChaosWorld } from './world';
import { buildWorld } from './world';

function replayCommand(options: ChaosOptions): string {
  const world =
    (options.redisCluster ? ' --redis-cluster' : '') +
    (options.temporal === 'cluster' ? ' --temporal cluster' : '');
  if (options.quick) return `npm run chaos -- --quick${world}`;
  return `npm run chaos -- --seed ${options.seed} --duration ${options.durationS} --per-kind ${options.perKind} --faults ${options.faults.join(',')}${world}`;
}

/** `npm run audit` itself, the production build's script against the private world, as an operator runs it. */
function npmRunAudit(world: ChaosWorld): Invariant {
  const result = spawnSync(process.execPath, ['dist/scripts/audit.js'], {
    encoding: 'utf8',
    env: { ...process.env, ...childEnv(world.config, 0), LOG_LEVEL: 'error' },
  });
  const output = `${result.stdout}${result.stderr}`.trim();
  const violations = output.split('\n').filter((line) => line.startsWith('VIOLATION') || result.status !== 0);
  return invariant(
    'npm_run_audit',
    '`node dist/scripts/audit.js` (what `npm run audit` runs) exits 0',
    result.status === 0 ? [] : violations,
    output.split('\n')[0],
  );
}

async function judge(world: ChaosWorld, history: History, healDeadlineMs: number) {
  const facts = await readFacts(world.db);
  const audit = await runAudit(world.db, { temporal: world.temporal.client });
  const credits = checkCredits(facts, healDeadlineMs);
  const invariants: Invariant[] = [
    invariant(
      'audit_clean',
      'the production audit (ledger/audit.ts) finds nothing',
      audit.violations.map((v) => `${v.check}: ${v.detail}`),
    ),
    npmRunAudit(world),
    ...checkHistory(facts, history),
    credits.invariant,
    ...(await checkWorkflows(world.temporal.client, facts)),
  ];
  return { audit, invariants, slowest: credits.slowest };
}

export async function main(argv: readonly string[]): Promise<number> {
  setLogPrefix('chaos');
  const options = parseOptions(argv);
  if (options.cells) return cellsMain(options);
  const cleanup = new Cleanup();
  cleanupOnSignals(cleanup);
  const startedAt = new Date().toISOString();
  try {
    const world = await buildWorld(cleanup, {
      redisCluster: options.redisCluster,
      temporal: options.temporal,
    });
    const history = new History();
    const client = new ChaosClient(world.url, world.config.auth.secret, history);
    cleanup.add('close the load client', () => Promise.resolve(client.close()));
    const rng = new Rng(options.seed);
    const durationMs = options.durationS * 1000;
    const ctx = { client, options, runId: world.runId, deadlineMs: Date.now() + durationMs };
    await fundUsers(ctx);
    const plan = buildSchedule(options.seed, options.faults, options.perKind, durationMs);
    log(`seed ${options.seed}: ${plan.length} faults over ${options.durationS} s of load`);
    const loadStartMs = Date.now();
    ctx.deadlineMs = loadStartMs + durationMs;
    const stopWatching = watchCreditStuck(world.temporal.client, loadStartMs);
    const [, faults] = await Promise.all([
      runLoad(ctx, rng.fork(0x10ad)),
      runFaults(world, plan, loadStartMs),
    ]);
    const faultsEndMs = Date.now();
    const creditStuckPeak = stopWatching();
    log(`load and faults stopped after ${((faultsEndMs - loadStartMs) / 1000).toFixed(1)} s; healing`);
    const budgetMs = options.healBudgetS * 1000;
    const healed = await heal(world, faultsEndMs, budgetMs);
    const { audit, invariants, slowest } = await judge(world, history, faultsEndMs + budgetMs);
    invariants.push(
      healed.settledMs === undefined
        ? invariant('reads_exact_after_heal', 'reads after the heal agree with the database', [
            'never settled',
          ])
        : await checkReadsAfterHeal(client, world.db, [...RICH_USERS, ...POOR_USERS]),
    );
    invariants.push(
      invariant(
        'faults_restored',
        'every faulted component came back',
        faults.filter((f) => f.error).map((f) => `${f.kind} ${f.target}: ${f.error}`),
      ),
      invariant(
        'healed_within_budget',
        'the heal finished within its budget',
        healed.healMs === undefined ? [healed.last] : [],
      ),
    );
    const report: ChaosReport = {
      startedAt,
      commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
      options,
      replay: replayCommand(options),
      loadMs: faultsEndMs - loadStartMs,
      creditStuckPeak,
      lastFaultEndedAtMs: Math.max(0, ...faults.map((f) => f.endedAtMs)),
      faults,
      faultsByKind: faultsByKind(faults),
      ...countOps(history),
      heal: { ...healed, budgetMs },
      ...(slowest ? { slowestCredit: slowest } : {}),
      audit: { ok: audit.ok, stats: audit.stats, workflows: audit.workflows },
      invariants,
      unexpectedExits: [world.api, ...world.workers].flatMap((c) => c.unexpectedExits),
      ok: invariants.every((inv) => inv.ok),
    };
    const path = writeReport(report);
    for (const inv of invariants)
      log(
        `${inv.ok ? 'pass' : 'FAIL'} ${inv.name}${inv.ok ? '' : `: ${inv.offending.slice(0, 5).join('; ')}`}`,
      );
    log(`${report.ok ? 'PASSED' : 'FAILED'}: report ${path}`);
    return report.ok ? 0 : 1;
  } catch (err) {
    log(
      `chaos run could not be carried out: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    return 2;
  } finally {
    await cleanup.runAll();
  }
}
