/**
 * The region outage run's report, Markdown and JSON under chaos/results/ (`cells-` in the name), as the other
 * chaos runs write theirs: the cut with the figures it is judged on, the heal and drain times, operations by
 * outcome, the errors clients saw, each cell's audit and every invariant with its offenders.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Invariant } from './checker';
import type { CutFigures } from './cellsCheck';
import type { FailoverFigures } from './cellsFailover';
import type { HealResult } from './heal';
import type { Outcome } from './history';
import type { ChaosOptions } from './options';
import { clientSections, RESULTS_DIR } from './report';

export interface CellsReport {
  startedAt: string;
  commit: string;
  options: ChaosOptions;
  replay: string;
  loadMs: number;
  /** The cut and what was seen during it; startMs and endMs are offsets from the start of the load. */
  cut: CutFigures;
  heal: Record<string, HealResult | number> & { budgetMs: number };
  /**
   * The clearing outbox (-1: no outbox table): rows the cut left undelivered at the restore and how long
   * after the restore they were all delivered; rows left at the end and when the outbox was empty after the
   * load stopped.
   */
  drain: {
    backlogAtRestore: number;
    cutDrainedMs: number | null;
    backlogAfter: number;
    emptyAfterLoadMs: number | null;
  };
  ops: Record<string, Record<Outcome, number>>;
  logical: Record<string, Record<Outcome, number>>;
  clientErrors: Record<string, number>;
  slowestCredit?: { claimId: string; lagMs: number };
  audits: Record<string, { ok: boolean; violations: string[] }>;
  invariants: Invariant[];
  unexpectedExits: string[];
  ok: boolean;
  /** With --failover: the fault on the cell's Patroni pair instead of a cut ("cut" then describes its window). */
  failover?: FailoverFigures;
}

/** The failover section of the report: what broke, how long until the cell wrote again, what was lost. */
function failoverLines(f: FailoverFigures): string[] {
  return [
    '## Failover',
    '',
    `- ${f.kind} on cell ${f.cell}: ${f.leaderBefore} led; after ${s(f.endMs - f.startMs)} the pair was whole again ` +
      `with ${f.leaderAfter} leading and ${f.standbyAfter} following${f.rewound ? ' (pg_rewind ran)' : ''}`,
    `- fault -> first successful open of the cell: ${s(f.firstOpenMs)}; first acknowledged send or open: ` +
      `${s(f.firstWriteMs)}; ${f.refused503} of its requests answered 503 meanwhile`,
    `- acknowledged operations lost: ${f.lostAcknowledged}${f.kind === 'async-crash' ? ' (asynchronous: the measured RPO)' : ''}`,
    '',
  ];
}

const s = (ms: number | null | undefined) =>
  ms === undefined || ms === null ? 'n/a' : `${(ms / 1000).toFixed(1)} s`;

function table(header: string[], rows: (string | number)[][]): string[] {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.join(' | ')} |`),
  ];
}

function healOf(report: CellsReport, cell: string): HealResult | undefined {
  const heal = report.heal[cell];
  return typeof heal === 'object' ? heal : undefined;
}

export function renderCellsMarkdown(report: CellsReport): string {
  const { options, cut, drain } = report;
  const drainText =
    drain.backlogAfter < 0
      ? '**no clearing outbox** in this build'
      : drain.backlogAfter === 0
        ? `the outbox held ${drain.backlogAtRestore} undelivered cross-cell credits at the restore, all delivered ` +
          `${s(drain.cutDrainedMs)} after it; the whole outbox was empty ${s(drain.emptyAfterLoadMs)} after the load stopped`
        : `**${drain.backlogAfter} outbox rows undelivered** at the end of the heal budget`;
  const lines = [
    `# Chaos ${report.failover ? 'failover' : 'region outage'} run ${report.startedAt}: ${report.ok ? 'PASSED' : 'FAILED'}`,
    '',
    `Seed ${options.seed}, ${options.durationS} s of load, cell ${cut.cell} ` +
      (report.failover
        ? `${report.failover.kind} on its Patroni pair, whole again `
        : 'cut off its Postgres, Redis and Temporal ') +
      `from +${s(cut.startMs)} to +${s(cut.endMs)}${options.quick ? ' (--quick)' : ''}, heal budget ` +
      `${options.healBudgetS} s, commit ${report.commit}. Replay: \`${report.replay}\`.`,
    '',
    ...(report.failover ? failoverLines(report.failover) : []),
    report.failover ? '## From the fault until the pair was whole' : '## During the cut',
    '',
    ...table(
      ['requests (sent and answered within the cut)', 'count', 'answered or refused as judged'],
      [
        [
          `owned by the standing cell ${cut.standing.cell}`,
          cut.standing.requests,
          `${cut.standing.answered} answered (${(cut.standing.share * 100).toFixed(2)} %)`,
        ],
        [
          `owned by the cut cell ${cut.cell}`,
          cut.cut.requests,
          `${cut.cut.regionUnavailable} got 503 region_unavailable (by entry: ${JSON.stringify(cut.cut.byEntry)}), ` +
            `refused in ${cut.cut.refusalMsP50} ms (median), ${cut.cut.refusalMsMax} ms at most; ` +
            `${cut.cut.answeredAfterRestore} sent during the cut were answered only after the restore`,
        ],
        ['received lists (span both cells)', cut.received.requests, `${cut.received.answered} answered`],
      ],
    ),
    '',
    '## After the cut',
    '',
    ...['n', 's'].map(
      (cell) =>
        `- cell ${cell}: healed ${s(healOf(report, cell)?.healMs)} and settled ${s(healOf(report, cell)?.settledMs)} ` +
        `after the load stopped (+${s(report.loadMs)})`,
    ),
    `- ${drainText}`,
    `- slowest credit: ${report.slowestCredit ? `${report.slowestCredit.claimId}, ${s(report.slowestCredit.lagMs)} after its open` : 'none'}`,
    ...Object.entries(report.audits).map(
      ([cell, audit]) => `- cell ${cell}'s audit: ${audit.ok ? 'clean' : audit.violations.join('; ')}`,
    ),
    '',
    '## Invariants',
    '',
    ...table(
      ['invariant', 'result', 'offending or note'],
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
      Object.entries(report.ops).map(([kind, row]) => [kind, row.ok, row.failed, row.unknown]),
    ),
    '',
    ...clientSections(report),
  ];
  return lines.join('\n');
}

export function writeCellsReport(report: CellsReport): string {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const stamp = report.startedAt.replace(/[:.]/g, '-');
  const base = join(
    RESULTS_DIR,
    `cells-${report.options.quick ? 'quick-' : ''}${stamp}-seed${report.options.seed}`,
  );
  writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(`${base}.md`, renderCellsMarkdown(report));
  return `${base}.md`;
}
