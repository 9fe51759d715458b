/**
 * `npm run bench`: builds the isolated world, warms it, runs the references and the four scenarios (each
 * a phase with CPU/memory readings and a money audit), judges the goals, prints the table and
 * writes bench/results/<timestamp>.json and .md. Cleanup runs however the run ends.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { audit } from './audit';
import { BENCH_CELLS, startCellPair } from './cellPair';
import { Cleanup, cleanupOnSignals } from './cleanup';
import { ROOT } from './children';
import { phase, tokenCache, type BenchContext } from './context';
import { pumpHistory } from './credits';
import { ServiceApi } from './fixtures';
import { judgeGoals } from './goals';
import { HttpClient } from './http';
import {
  parseOptions,
  SHARES_PER_BURST_PACKET,
  SHARES_PER_SPREAD_PACKET,
  STORM_SHARES,
  UsageError,
  type BenchOptions,
} from './options';
import { overloadPhase } from './overload/curve';
import { curveSvg } from './overload/render';
import { mainThreadProfile, PROFILE_DIR, summarizeProfile } from './profile';
import { log } from './progress';
import { bareStorm, traditionalStorm } from './references/httpStorms';
import { hotPacketOpenReference, postgresOpenReference, redisGrabReference } from './references/machine';
import { signalReference, trivialWorkflowReference } from './references/temporal';
import { renderMarkdown } from './render';
import { Report } from './report';
import { burstScenario } from './scenarios/bursts';
import { cellsScenario } from './scenarios/cells';
import { sendScenario } from './scenarios/send';
import { spreadScenario } from './scenarios/spread';
import { opensAloneScenario } from './scenarios/opens';
import { redisClusterPhase } from './scenarios/rcluster';
import { temporalClusterPhase } from './scenarios/tcluster';
import { grabOnlyScenario, stormScenario } from './scenarios/storm';
import { warmUp } from './warmup';
import { buildWorld } from './world';
import { creditPumpWorkflowId } from '../saga';
import { runPairAudit } from '../ledger/pairAudit';

const RESULTS_DIR = join(ROOT, 'bench', 'results');

function machineInfo(): Record<string, string | number> {
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    // not a git checkout
  }
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    commit,
    loadBefore: loadavg()
      .map((value) => value.toFixed(2))
      .join(' '),
  };
}

async function runScenarios(ctx: BenchContext, only: BenchOptions['only'], cleanup: Cleanup): Promise<void> {
  const { sizes } = ctx;
  await phase(ctx, 'warm-up', () => warmUp(ctx));
  if (only.has('machine'))
    await phase(ctx, 'machine: Redis and Postgres', async () => {
      await redisGrabReference(ctx);
      await postgresOpenReference(ctx);
      await hotPacketOpenReference(ctx);
    });
  if (only.has('storm'))
    await phase(ctx, '1. hot packet storm', async () => {
      ctx.report.add(await bareStorm(ctx, 'storm', sizes.stormClients));
      ctx.report.add((await traditionalStorm(ctx, 'storm', sizes.stormClients, false)).figure);
      ctx.report.add((await traditionalStorm(ctx, 'storm', sizes.stormClients, true)).figure);
      await stormScenario(ctx, sizes.stormClients);
      await grabOnlyScenario(ctx, sizes.stormClients);
      await opensAloneScenario(ctx);
    });
  if (only.has('temporal'))
    await phase(ctx, 'machine: Temporal', async () => {
      await trivialWorkflowReference(ctx);
      const burstOpens = sizes.burstPackets * SHARES_PER_BURST_PACKET;
      await signalReference(
        ctx,
        'ref.signals.bursts',
        sizes.burstPackets,
        burstOpens,
        sizes.burstConcurrency,
        'crowd',
      );
      const spreadOpens = sizes.spreadPackets * SHARES_PER_SPREAD_PACKET;
      await signalReference(
        ctx,
        'ref.signals.spread',
        sizes.spreadPackets,
        spreadOpens,
        sizes.burstConcurrency,
        'roundRobin',
      );
    });
  if (only.has('bursts')) await phase(ctx, '2. group bursts', () => burstScenario(ctx));
  // Send before spread: spread leaves thousands of half-opened packets whose sweeps would load the sends.
  if (only.has('send')) await phase(ctx, '4. send', () => sendScenario(ctx));
  if (only.has('spread'))
    await phase(ctx, '3. spread opens', () => spreadScenario(ctx, ctx.report.figure('ref.signals.spread')));
  if (only.has('cells')) await twoCells(ctx, cleanup);
  // Issue 29's engines, opt-in (OPT_IN_PHASES): each starts its engine and a second service beside this one.
  if (only.has('rcluster')) await redisClusterPhase(ctx, cleanup);
  if (only.has('tcluster')) await temporalClusterPhase(ctx, cleanup);
  // Issue 32's latency curve, opt-in: minutes past capacity, last, so nothing else pays for its backlog.
  if (only.has('overload')) await phase(ctx, '7. overload: latency curve', () => overloadPhase(ctx));
}

/** Scenario 6: the service as two cells next to the single-cell one; each cell audited, and the pair. */
async function twoCells(ctx: BenchContext, cleanup: Cleanup): Promise<void> {
  const { world } = ctx;
  if (!world.local) return ctx.report.note('two cells: skipped with --url (the bench starts its own cells)');
  const pair = await startCellPair(
    {
      runId: world.runId,
      base: world.service.config,
      cliPath: world.cliPath,
      temporalAddress: world.temporalAddress,
    },
    cleanup,
  );
  for (const cell of BENCH_CELLS) {
    world.procs.add(`api-${cell}`, pair[cell].api.pid);
    world.procs.add(`worker-${cell}`, pair[cell].worker.pid);
  }
  await phase(ctx, '6. two cells', () => cellsScenario(ctx, pair));
  for (const cell of BENCH_CELLS)
    ctx.report.data.audits.push(await audit(pair[cell].db, '6. two cells', `cell ${cell}`));
  const pairAudit = await runPairAudit(BENCH_CELLS.map((cell) => ({ cell, db: pair[cell].db })));
  const matched = pairAudit.pairs.map(
    (p) => `${p.packetCell}->${p.homeCell} ${p.matched} matched, ${p.inTransit} in transit`,
  );
  ctx.report.goal(
    '6. two cells',
    'pair audit clean',
    `${pairAudit.violations.length} violations; ${matched.join('; ')}`,
    pairAudit.ok,
  );
}

function writeResults(report: Report): { json: string; md: string; markdown: string } {
  const stamp = report.data.startedAt.replace(/[:.]/g, '-');
  mkdirSync(RESULTS_DIR, { recursive: true });
  const json = join(RESULTS_DIR, `${stamp}.json`);
  const md = join(RESULTS_DIR, `${stamp}.md`);
  // The latency curve's chart, next to the report, which links it by name.
  const svgName = report.data.curves.length ? `${stamp}-overload.svg` : undefined;
  if (svgName)
    writeFileSync(join(RESULTS_DIR, svgName), curveSvg(report.data.curves, `bench ${report.data.startedAt}`));
  const markdown = renderMarkdown(report.data, svgName);
  writeFileSync(json, `${JSON.stringify(report.data, null, 2)}\n`);
  writeFileSync(md, markdown);
  return { json, md, markdown };
}

/** The credit pumps' own cost over the whole run: history events per credited claim. */
async function pumpFacts(ctx: BenchContext): Promise<void> {
  const { config, temporal, db } = ctx.world.service;
  const ids = Array.from({ length: config.credit.shards }, (_, shard) =>
    creditPumpWorkflowId(config.credit.pumpIdPrefix, shard),
  );
  const pumps = await pumpHistory(temporal, db, ids).catch(() => undefined);
  if (!pumps) return ctx.report.note('the credit pumps could not be read');
  const fact = (key: string, value: number | string) => ctx.report.fact('5. credit pumps', key, value);
  fact('pumps (shards)', ids.length);
  fact('runs (continue-as-new)', pumps.runs);
  fact('history events', pumps.events);
  fact('claims credited in the run', pumps.credited);
  fact('pump history events per credited claim', pumps.events / Math.max(1, pumps.credited));
}

async function profileNotes(ctx: BenchContext): Promise<void> {
  const api = ctx.world.service.api;
  if (!api) return;
  await api.stop(); // the profile is written when the API exits
  const file = mainThreadProfile(PROFILE_DIR, api.pid);
  if (!file) return ctx.report.note('no CPU profile of the API was found');
  const shares = summarizeProfile(file);
  ctx.report.note(
    `API CPU profile (${file}), self time by area: ` +
      shares.map(({ area, share }) => `${area} ${(share * 100).toFixed(1)} %`).join(', '),
  );
}

async function run(options: BenchOptions, cleanup: Cleanup): Promise<void> {
  const startedMs = Date.now();
  const report = new Report({
    startedAt: new Date(startedMs).toISOString(),
    mode: options.quick ? 'quick' : 'default',
    service: options.url ?? 'started by the bench',
    machine: machineInfo(),
    sizes: { ...options.sizes, only: [...options.only] },
  });
  try {
    const world = await buildWorld(options, cleanup);
    report.data.configuration = world.service.configuration;
    const api = await ServiceApi.create(
      world.service.url,
      world.service.config.auth.secret,
      options.sizes.stormConcurrency,
    );
    const bare = new HttpClient(world.refs.bareUrl, options.sizes.stormConcurrency);
    const full = new HttpClient(world.refs.fullUrl, options.sizes.stormConcurrency);
    cleanup.add('close the load generator connections', () => {
      for (const client of [api.http, bare, full]) client.close();
      return Promise.resolve();
    });
    const ctx: BenchContext = { world, sizes: options.sizes, report, api, bare, full, tokens: tokenCache() };
    // Memory and CPU of start-up alone, before any load.
    report.data.phases.push({ phase: 'after start-up (idle)', reading: world.procs.take() });
    await runScenarios(ctx, options.only, cleanup);
    await pumpFacts(ctx);
    judgeGoals(report, STORM_SHARES);
    if (options.profile) await profileNotes(ctx);
  } catch (err) {
    report.note(`the run failed: ${err instanceof Error ? err.message : String(err)}`);
    throw err;
  } finally {
    report.data.finishedAt = new Date().toISOString();
    report.data.durationSeconds = (Date.now() - startedMs) / 1000;
    report.data.machine['loadAfter'] = loadavg()
      .map((value) => value.toFixed(2))
      .join(' ');
    if (cleanup.interrupted) log('interrupted: no results written');
    else if (report.data.figures.length || report.data.curves.length) {
      const written = writeResults(report);
      process.stdout.write(`\n${written.markdown}\n`);
      log(`results: ${written.md} and ${written.json}`);
    }
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  let options: BenchOptions;
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    console.error(err.message);
    return err.helpOnly ? 0 : 2;
  }
  const cleanup = new Cleanup();
  cleanupOnSignals(cleanup);
  try {
    await run(options, cleanup);
    return 0;
  } finally {
    log('cleaning up');
    await cleanup.runAll();
  }
}
