/**
 * The run's report, Markdown for people and JSON for tools, under chaos/results/: the faults with their
 * times, operations by outcome, the errors clients saw (5xx and resets during faults are expected and
 * counted; wrong answers are invariant violations), the heal time, and every invariant with its offenders.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../bench/children';
import type { Invariant } from './checker';
import type { FaultRecord } from './faults';
import type { HealResult } from './heal';
import type { History, OpKind, Outcome } from './history';
import type { ChaosOptions } from './options';
import type { StuckPeak } from './workflows';

export const RESULTS_DIR = join(ROOT, 'chaos', 'results');

export interface ChaosReport {
  startedAt: string;
  commit: string;
  options: ChaosOptions;
  replay: string;
  loadMs: number;
  /** Offset from the start of the load at which the last fault ended (its target restored). */
  lastFaultEndedAtMs: number;
  /** The most workflows seen with CreditStuck = true at once during the faults (sampled every 2 s). */
  creditStuckPeak: StuckPeak;
  faults: FaultRecord[];
  faultsByKind: Record<string, number>;
  ops: Record<string, Record<Outcome, number>>;
  /** Deposits and sends by the outcome of all attempts with one Idempotency-Key. */
  logical: Record<string, Record<Outcome, number>>;
  clientErrors: Record<string, number>;
  heal: HealResult & { budgetMs: number };
  slowestCredit?: { claimId: string; lagMs: number };
  audit: { ok: boolean; stats: unknown; workflows: unknown };
  invariants: Invariant[];
  /** Processes that exited on their own and were restarted, as a supervisor would: not violations. */
  unexpectedExits: string[];
  ok: boolean;
}

export function countOps(history: History) {
  const ops: Record<string, Record<Outcome, number>> = {};
  const clientErrors: Record<string, number> = {};
  for (const op of history.ops) {
    const row = (ops[op.kind] ??= { ok: 0, failed: 0, unknown: 0 });
    row[op.outcome]++;
    if (op.outcome === 'ok') continue;
    const key = `${op.kind} ${op.status || 'network'} ${op.code ?? ''}`.trim();
    clientErrors[key] = (clientErrors[key] ?? 0) + 1;
  }
  const logical: Record<string, Record<Outcome, number>> = {};
  for (const kind of ['deposit', 'send'] as const) {
    const byKey = new Map<string, Outcome[]>();
    for (const op of history.of(kind))
      byKey.set(op.key ?? '', [...(byKey.get(op.key ?? '') ?? []), op.outcome]);
    const row = (logical[kind] = { ok: 0, failed: 0, unknown: 0 });
    for (const outcomes of byKey.values()) {
      const final = outcomes.includes('ok') ? 'ok' : outcomes.includes('failed') ? 'failed' : 'unknown';
      row[final]++;
    }
  }
  return { ops, clientErrors, logical };
}

export function faultsByKind(faults: readonly FaultRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const fault of faults) counts[fault.kind] = (counts[fault.kind] ?? 0) + 1;
  return counts;
}

const s = (ms: number | undefined) => (ms === undefined ? 'n/a' : `${(ms / 1000).toFixed(1)} s`);

function table(header: string[], rows: (string | number)[][]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ];
}

export function renderMarkdown(report: ChaosReport): string {
  const { options, heal } = report;
  const kinds = Object.keys(report.ops) as OpKind[];
  const totals = { ok: 0, failed: 0, unknown: 0 };
  for (const kind of kinds)
    for (const outcome of ['ok', 'failed', 'unknown'] as const)
      totals[outcome] += report.ops[kind]?.[outcome] ?? 0;
  const lines = [
    `# Chaos run ${report.startedAt}: ${report.ok ? 'PASSED' : 'FAILED'}`,
    '',
    `Seed ${options.seed}, ${options.durationS} s of load, ${options.perKind} of each of ${options.faults.length} fault kinds` +
      `${options.quick ? ' (--quick)' : ''}, heal budget ${options.healBudgetS} s, commit ${report.commit}` +
      `${options.temporal === 'cluster' ? ', Temporal as two server nodes on Postgres (--temporal cluster)' : ''}.`,
    `Replay the same fault schedule: \`${report.replay}\`.`,
    '',
    `The last fault ended at +${s(report.lastFaultEndedAtMs)} and the load at +${s(report.loadMs)}; from then, ` +
      `healed after ${s(heal.healMs)} (API ready, every claim credited, every expired packet ` +
      `finished, no CreditStuck) and every packet settled after ${s(heal.settledMs)}. Slowest credit: ` +
      `${report.slowestCredit ? `${report.slowestCredit.claimId}, ${s(report.slowestCredit.lagMs)} after its open` : 'none'}.`,
    '',
    `During the faults, CreditStuck was true on up to ${report.creditStuckPeak.count} workflows at once` +
      `${report.creditStuckPeak.count > 0 ? ` (+${s(report.creditStuckPeak.atMs)})` : ''}.`,
    '',
    '## Invariants',
    '',
    ...table(
      ['invariant', 'result', 'offending'],
      report.invariants.map((inv) => [
        `\`${inv.name}\`: ${inv.description}`,
        inv.ok ? 'pass' : '**FAIL**',
        inv.ok ? (inv.note ?? '') : inv.offending.join('<br>'),
      ]),
    ),
    '',
    '## Operations by outcome',
    '',
    ...table(
      ['operation', 'ok', 'failed', 'unknown'],
      [
        ...kinds.map((kind) => [
          kind,
          report.ops[kind]?.ok ?? 0,
          report.ops[kind]?.failed ?? 0,
          report.ops[kind]?.unknown ?? 0,
        ]),
        ['all', totals.ok, totals.failed, totals.unknown],
      ],
    ),
    '',
    'By Idempotency-Key (all attempts of one deposit or send together):',
    '',
    ...table(
      ['operation', 'ok', 'failed', 'unknown after every retry'],
      Object.entries(report.logical).map(([kind, row]) => [kind, row.ok, row.failed, row.unknown]),
    ),
    '',
    ...clientSections(report),
    '## Faults',
    '',
    ...table(
      ['kind', 'count'],
      Object.entries(report.faultsByKind).map(([kind, count]) => [kind, count]),
    ),
    '',
    ...table(
      ['start', 'end', 'kind', 'target', 'hold', 'error'],
      report.faults.map((f) => [
        s(f.startedAtMs),
        s(f.endedAtMs),
        f.kind,
        f.target,
        `${f.holdMs} ms`,
        f.error ?? '',
      ]),
    ),
    '',
  ];
  return lines.join('\n');
}

export function writeReport(report: ChaosReport): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const base = join(
    RESULTS_DIR,
    `${report.options.quick ? 'quick-' : ''}${stamp}-seed${report.options.seed}`,
  );
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, renderMarkdown(report));
  return `${base}.md`;
}

/** The sections every chaos report ends its client side with: errors clients saw and processes that exited. */
export function clientSections(report: {
  clientErrors: Record<string, number>;
  unexpectedExits: readonly string[];
}): string[] {
  return [
    '## Errors clients saw',
    '',
    ...table(
      ['operation, status, code', 'count'],
      Object.entries(report.clientErrors)
        .sort((a, b) => b[1] - a[1])
        .map(([key, count]) => [key, count]),
    ),
    '',
    '## Processes that exited on their own (restarted as a supervisor would)',
    '',
    ...(report.unexpectedExits.length === 0 ? ['none'] : report.unexpectedExits.map((exit) => `- ${exit}`)),
    '',
  ];
}
