/**
 * `npm run chaos -- --cells`: the region outage run (docs/chaos.md "Region outage (--cells)"). Builds cells
 * n and s, funds 20 users homed in each, runs the light mixed load through both cells' APIs and, at a seeded
 * moment, cuts one cell (chosen by the seed) off its Postgres, Redis and Temporal for --cut seconds. Then it
 * heals both cells, waits for the clearing outbox to drain, and judges: the standing cell's answers during
 * the cut, the cut cell's 503s, every acknowledged operation against both databases, each cell's audit and
 * workflows, and reads after the heal. Exits 0 when every invariant holds, 1 otherwise, 2 when the run itself
 * could not be carried out.
 */
import { spawnSync } from 'node:child_process';
import { Cleanup, cleanupOnSignals } from '../bench/cleanup';
import { log, sleep } from '../bench/progress';
import { runAudit } from '../ledger/audit';
import { runPairAudit } from '../ledger/pairAudit';
import { checkCredits, checkHistory, invariant, type Invariant } from './checker';
import { ChaosClient } from './client';
import {
  checkAllAnswered,
  checkCrossCredits,
  checkNo500,
  checkNotFound,
  judgeCut,
  mergeFacts,
  outboxBacklog,
} from './cellsCheck';
import { asRpo, injectFailover, judgeFailover, type FailoverWindow } from './cellsFailover';
import { cellUsers, fundCellUsers, runCellsLoad } from './cellsLoad';
import { writeCellsReport, type CellsReport } from './cellsReport';
import { buildCellsWorld, CELL_NAMES, cutCell, type CellName, type CellsWorld } from './cellsWorld';
import { readFacts } from './facts';
import { heal, type HealResult } from './heal';
import { History } from './history';
import type { ChaosOptions } from './options';
import { countOps } from './report';
import { checkReadsAfterHeal } from './reads';
import { Rng } from './rng';
import { checkWorkflows } from './workflows';

const DRAIN_POLL_MS = 500;
/** The cut never begins before the load has warmed up, nor ends in the load's last seconds. */
const CUT_EARLIEST_S = 12;
const CUT_TAIL_S = 10;

function replayCommand(options: ChaosOptions): string {
  if (options.failover)
    return options.quick
      ? `npm run chaos -- --cells --failover ${options.failover} --quick`
      : `npm run chaos -- --cells --failover ${options.failover} --seed ${options.seed} --duration ${options.durationS}`;
  if (options.quick) return 'npm run chaos -- --cells --quick';
  return `npm run chaos -- --cells --seed ${options.seed} --duration ${options.durationS} --cut ${options.cutS} --heal ${options.healBudgetS}`;
}

/** The seeded plan: which cell is cut and when, as an offset from the start of the load. */
export function planCut(options: ChaosOptions): { cell: CellName; atMs: number } {
  const rng = new Rng(options.seed).fork(0xce11);
  const cell = rng.pick(CELL_NAMES);
  const latestS = Math.max(CUT_EARLIEST_S, options.durationS - options.cutS - CUT_TAIL_S);
  return { cell, atMs: rng.int(CUT_EARLIEST_S, latestS) * 1000 };
}

/**
 * Watches the clearing outbox from the restore: the backlog the cut left (rows written before the restore)
 * and how long it took to be delivered, then, once the load has stopped, waits for the whole outbox to
 * empty within the heal budget. Without clearing (no outbox) every figure is -1 or null.
 */
async function watchDrain(
  world: CellsWorld,
  restoredMs: number,
  loadDone: Promise<number>,
  deadlineMs: number,
) {
  const dbs = CELL_NAMES.map((name) => world.cells[name].db);
  const read = (beforeMs?: number) => outboxBacklog(dbs, beforeMs).catch(() => Number.NaN);
  const atRestore = await read(restoredMs);
  let cutDrainedMs: number | null = atRestore === 0 ? 0 : null;
  while (atRestore > 0 && cutDrainedMs === null && Date.now() < deadlineMs) {
    await sleep(DRAIN_POLL_MS);
    if ((await read(restoredMs)) === 0) cutDrainedMs = Date.now() - restoredMs;
  }
  const loadEndMs = await loadDone;
  for (;;) {
    const backlog = await read();
    if (backlog <= 0 || Date.now() > deadlineMs)
      return {
        backlogAtRestore: atRestore,
        cutDrainedMs,
        backlogAfter: backlog,
        emptyAfterLoadMs: backlog === 0 ? Date.now() - loadEndMs : null,
      };
    await sleep(DRAIN_POLL_MS);
  }
}

async function judgeCells(
  world: CellsWorld,
  history: History,
  clients: Record<CellName, ChaosClient>,
  deadlineMs: number,
) {
  const invariants: Invariant[] = [];
  const audits: Record<string, { ok: boolean; violations: string[] }> = {};
  const perCell = [];
  for (const name of CELL_NAMES) {
    const cell = world.cells[name];
    const facts = await readFacts(cell.db);
    perCell.push(facts);
    const audit = await runAudit(cell.db, { temporal: cell.temporal.client });
    const violations = audit.violations.map((v) => `${v.check}: ${v.detail}`);
    audits[name] = { ok: audit.ok, violations };
    invariants.push(
      invariant(`audit_clean_${name}`, `cell ${name}'s audit (ledger/audit.ts) finds nothing`, violations),
      ...(await checkWorkflows(cell.temporal.client, facts)).map((inv) => ({
        ...inv,
        name: `${inv.name}_${name}`,
      })),
    );
  }
  const pair = await runPairAudit(CELL_NAMES.map((name) => ({ cell: name, db: world.cells[name].db })));
  invariants.push(
    invariant(
      'pair_audit_clean',
      'the pair audit (ledger/pairAudit.ts) matches every cross-cell credit and balances clearing',
      pair.violations.map((v) => `${v.check}: ${v.detail}`),
      pair.pairs
        .map((p) => `${p.packetCell}->${p.homeCell}: ${p.matched} matched, ${p.inTransit} in transit`)
        .join('; '),
    ),
  );
  const facts = mergeFacts(perCell);
  const credits = checkCredits(facts, deadlineMs);
  invariants.push(...checkHistory(facts, history), credits.invariant);
  const users = cellUsers();
  for (const name of CELL_NAMES) {
    const read = await checkReadsAfterHeal(clients[name], world.cells[name].db, users[name]);
    invariants.push({ ...read, name: `${read.name}_${name}` });
  }
  return { facts, invariants, audits, slowest: credits.slowest };
}

export async function cellsMain(options: ChaosOptions): Promise<number> {
  const cleanup = new Cleanup();
  cleanupOnSignals(cleanup);
  const startedAt = new Date().toISOString();
  try {
    const plan = planCut(options);
    const failover = options.failover;
    const world = await buildCellsWorld(cleanup, failover ? { cell: plan.cell, kind: failover } : undefined);
    const history = new History();
    const clients = {
      n: new ChaosClient(world.cells.n.url, world.secret, history),
      s: new ChaosClient(world.cells.s.url, world.secret, history),
    };
    cleanup.add('close the load clients', () =>
      Promise.resolve(Object.values(clients).forEach((c) => c.close())),
    );
    const rng = new Rng(options.seed);
    const users = cellUsers();
    const everyone = [...users.n, ...users.s];
    const ctx = { clients, runId: world.runId, deadlineMs: 0, maxExpiryS: options.maxExpiryS };
    await fundCellUsers(ctx, rng.fork(0xf00d), everyone);
    log(
      failover
        ? `seed ${options.seed}: ${failover} on cell ${plan.cell}'s Patroni pair at +${plan.atMs / 1000} s of ${options.durationS} s of load`
        : `seed ${options.seed}: cutting cell ${plan.cell} at +${plan.atMs / 1000} s for ${options.cutS} s of ${options.durationS} s of load`,
    );
    const loadStartMs = Date.now();
    ctx.deadlineMs = loadStartMs + options.durationS * 1000;
    let loadEnded: (ms: number) => void = () => undefined;
    const loadDone = new Promise<number>((resolve) => (loadEnded = resolve));
    const drainDeadlineMs = ctx.deadlineMs + options.healBudgetS * 1000;
    let failoverWindow: FailoverWindow | undefined;
    const cut = async () => {
      await sleep(Math.max(0, loadStartMs + plan.atMs - Date.now()));
      if (failover && world.pair) {
        failoverWindow = await injectFailover(world.pair, failover);
        return { startMs: failoverWindow.startMs, endMs: failoverWindow.endMs };
      }
      cutCell(world.cells[plan.cell], true);
      const startMs = Date.now();
      log(`cell ${plan.cell} cut off its Postgres, Redis and Temporal`);
      await sleep(options.cutS * 1000);
      cutCell(world.cells[plan.cell], false);
      log(`cell ${plan.cell} restored`);
      return { startMs, endMs: Date.now() };
    };
    const load = runCellsLoad(ctx, rng.fork(0x10ad), everyone).then(() => loadEnded(Date.now()));
    const window = await cut();
    const drained = watchDrain(world, window.endMs, loadDone, drainDeadlineMs);
    await load;
    const loadEndMs = Date.now();
    log(`load stopped after ${((loadEndMs - loadStartMs) / 1000).toFixed(1)} s; healing`);
    const budgetMs = options.healBudgetS * 1000;
    const heals: Record<string, HealResult> = {};
    await Promise.all(
      CELL_NAMES.map(async (name) => {
        heals[name] = await heal(world.cells[name], loadEndMs, budgetMs);
      }),
    );
    const drain = await drained;
    const deadlineMs = loadEndMs + budgetMs;
    const dbs = { n: world.cells.n.db, s: world.cells.s.db };
    const judged = await judgeCells(world, history, clients, deadlineMs);
    const cutJudged = judgeCut(history, plan.cell, window);
    const failoverJudged = failoverWindow && judgeFailover(history, plan.cell, failoverWindow);
    const judgedInvariants = [
      // A failover is not a cut: the cell answers again as soon as Patroni has a leader (cellsFailover.ts).
      ...(failoverJudged ? failoverJudged.invariants : cutJudged.invariants),
      checkNo500(history),
      checkAllAnswered(history, window.startMs),
      await checkNotFound(history, dbs),
      ...judged.invariants,
      await checkCrossCredits(judged.facts, dbs, drain.backlogAfter),
      invariant(
        'healed_within_budget',
        'both cells healed and settled within the heal budget',
        CELL_NAMES.filter((name) => heals[name]?.settledMs === undefined).map(
          (name) => `cell ${name}: ${heals[name]?.last}`,
        ),
      ),
    ];
    const { invariants, lost } =
      failover === 'async-crash' ? asRpo(judgedInvariants) : { invariants: judgedInvariants, lost: 0 };
    const report: CellsReport = {
      startedAt,
      commit: spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).stdout.trim(),
      options,
      replay: replayCommand(options),
      loadMs: loadEndMs - loadStartMs,
      cut: { ...cutJudged.figures, startMs: window.startMs - loadStartMs, endMs: window.endMs - loadStartMs },
      heal: { ...heals, budgetMs },
      drain,
      ...countOps(history),
      ...(judged.slowest ? { slowestCredit: judged.slowest } : {}),
      audits: judged.audits,
      invariants,
      unexpectedExits: CELL_NAMES.flatMap((name) => [
        world.cells[name].api,
        world.cells[name].worker,
      ]).flatMap((component) => component.unexpectedExits),
      ok: invariants.every((inv) => inv.ok),
      ...(failoverJudged ? { failover: { ...failoverJudged.figures, lostAcknowledged: lost } } : {}),
    };
    const path = writeCellsReport(report);
    for (const inv of invariants)
      log(
        `${inv.ok ? 'pass' : 'FAIL'} ${inv.name}${inv.ok ? (inv.note ? ` (${inv.note})` : '') : `: ${inv.offending.slice(0, 5).join('; ')}`}`,
      );
    log(`${report.ok ? 'PASSED' : 'FAILED'}: report ${path}`);
    return report.ok ? 0 : 1;
  } catch (err) {
    log(
      `chaos --cells run could not be carried out: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`,
    );
    return 2;
  } finally {
    await cleanup.runAll();
  }
}
