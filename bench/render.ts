/** Renders a report as Markdown: the results table, goals, spread steps, CPU and memory, audits. */
import { REDIS_CLUSTER_PROCESSES, ONE_REDIS_PROCESS, TEMPORAL_NODE_PROCESSES } from './engineRounds';
import { curveMarkdown } from './overload/render';
import type { ReportData } from './report';
import type { Figure } from './stats';

const int = (value: number): string =>
  Number.isFinite(value) ? Math.round(value).toLocaleString('en-US') : 'n/a';
const ms = (value: number | undefined): string =>
  value === undefined ? '' : value < 10 ? value.toFixed(1) : int(value);
const ratio = (value: number): string => (Number.isFinite(value) ? `${value.toFixed(2)}x` : 'n/a');

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function figureRow(figure: Figure): string[] {
  const versus = figure.versus.map((v) => `${ratio(v.ratio)} ${v.id}`).join(', ');
  return [
    `\`${figure.id}\` ${figure.label}`,
    `${int(figure.count)} ${figure.unit}`,
    int(figure.perSecond),
    ms(figure.latency?.p50Ms),
    ms(figure.latency?.p99Ms),
    ms(figure.latency?.maxMs),
    int(figure.errors),
    versus,
  ];
}

/**
 * The two-cell phase's processes (bench/cellPair.ts) and the engine phases' second services
 * (bench/sideService.ts) count in the api and worker columns, the Temporal cluster's nodes in temporal.
 * Redis has a column only in runs that sampled it (the Redis Cluster phase); otherwise it is in `other`.
 */
const CPU_COLUMNS: [string, string[]][] = [
  ['api', ['api', 'api-n', 'api-s', 'api-rc', 'api-tc']],
  ['worker', ['worker', 'worker-n', 'worker-s', 'worker-rc', 'worker-tc']],
  ['temporal', ['temporal', ...TEMPORAL_NODE_PROCESSES]],
  ['redis', [ONE_REDIS_PROCESS, ...REDIS_CLUSTER_PROCESSES]],
  ['refs', ['reference', 'refWorker']],
  ['bench', ['bench']],
  ['other (pg, redis, rest)', ['other']],
];

const cpuOf = (perUnit: Record<string, number>, names: string[]) =>
  names.reduce((sum, name) => sum + (perUnit[name] ?? 0), 0);

const cpuMs = (value: number) =>
  value >= 10 ? value.toFixed(0) : value >= 1 ? value.toFixed(1) : value.toFixed(2);

function cpuTable(data: ReportData): string {
  const sampled = (names: string[]) =>
    names.some((name) => data.figures.some((figure) => figure.cpuMsPerUnit?.[name] !== undefined));
  const columns = CPU_COLUMNS.filter(([label, names]) => label !== 'redis' || sampled(names));
  const rows = data.figures.flatMap((figure) => {
    const perUnit = figure.cpuMsPerUnit;
    if (!perUnit) return [];
    const cells = columns.map(([, names]) => cpuOf(perUnit, names));
    const total = cells.reduce((sum, value) => sum + value, 0);
    return [[`\`${figure.id}\` per ${figure.unit.replace(/s$/, '')}`, ...cells.map(cpuMs), cpuMs(total)]];
  });
  return table(['CPU ms per unit', ...columns.map(([label]) => label), 'total'], rows);
}

/** Which configuration the service ran: its LOG_LEVEL, where its environment came from, the environment. */
function configurationLines(data: ReportData): string[] {
  const configuration = data.configuration;
  if (!configuration) return [];
  const lines = [`Service configuration: \`LOG_LEVEL\` ${configuration.logLevel}; ${configuration.source}.`];
  if (configuration.env) {
    const env = Object.entries(configuration.env).map(([name, value]) => `\`${name}=${value}\``);
    lines.push(`The API's environment: ${env.join(', ')}.`);
  }
  return [...lines, ''];
}

/** `svgFile`: the latency curve's chart, written next to the report, when the run drew one. */
export function renderMarkdown(data: ReportData, svgFile?: string): string {
  const out: string[] = [];
  const m = data.machine;
  out.push(
    `## Bench results (${data.mode}), ${data.startedAt}`,
    '',
    `${m['cpus']} cores (${m['cpuModel']}), ${m['memoryGb']} GB, Node ${m['node']}, commit ${m['commit']}; ` +
      `load average ${m['loadBefore']} before, ${m['loadAfter']} after; service ${data.service}; ` +
      `${Math.round(data.durationSeconds)} s in all. The load generator shares these cores (bench CPU below).`,
    '',
    ...configurationLines(data),
    table(
      ['figure', 'count', 'per s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'ratio to reference'],
      data.figures.map(figureRow),
    ),
    '',
    '### Where the CPU goes',
    '',
    'CPU milliseconds per unit of each figure (per client, request, open...), by process, measured from',
    '/proc while the figure ran (credits included where the figure says so). `other` is everything else',
    'the machine did: Postgres, Redis, the kernel, and anything else running on these cores.',
    '',
    cpuTable(data),
    '',
    '### Goals',
    '',
    table(
      ['scenario', 'goal', 'measured', 'met'],
      data.goals.map((goal) => [goal.scenario, goal.goal, goal.measured, goal.met ? 'yes' : '**no**']),
    ),
  );
  if (data.spreadSteps.length) {
    out.push(
      '',
      '### Spread opens, by rate step',
      '',
      table(
        [
          'target/s',
          'achieved/s',
          'opens',
          'errors',
          'late',
          'flow p99 ms',
          'lag p50 / p99 / max ms',
          'signals/open',
          'credit events/claim',
          'CPU ms/open',
          'pass',
        ],
        data.spreadSteps.map((step) => [
          int(step.targetPerSecond),
          int(step.achievedPerSecond),
          int(step.opens),
          int(step.errors),
          int(step.late),
          ms(step.flowP99Ms),
          `${ms(step.lagP50Ms)} / ${ms(step.lagP99Ms)} / ${ms(step.lagMaxMs)}`,
          step.signalsPerOpen.toFixed(2),
          step.eventsPerClaim.toFixed(1),
          cpuMs(Object.values(step.cpuMsPerOpen).reduce((sum, value) => sum + value, 0)),
          step.passed ? 'yes' : 'no',
        ]),
      ),
    );
  }
  if (data.curves.length) out.push(...curveMarkdown(data.curves, svgFile));
  const facts = Object.entries(data.facts);
  if (facts.length) {
    out.push('', '### Facts', '');
    for (const [scenario, values] of facts) {
      const text = Object.entries(values)
        .map(
          ([key, value]) =>
            `${key} ${typeof value === 'number' ? (Number.isInteger(value) ? int(value) : value.toFixed(2)) : String(value)}`,
        )
        .join('; ');
      out.push(`- ${scenario}: ${text}`);
    }
  }
  out.push(
    '',
    '### CPU seconds and peak RSS per phase',
    '',
    table(
      [
        'phase',
        'wall s',
        'machine busy',
        'api CPU s / MB',
        'worker CPU s / MB',
        'temporal CPU s / MB',
        'refs CPU s',
        'bench CPU s',
      ],
      data.phases.map(({ phase, reading }) => {
        const p = (name: string) => reading.processes[name];
        // CPU summed over the process and its cells' (api, api-n, api-s); memory is the largest one's.
        const cell = (name: string) => {
          const procs = [name, `${name}-n`, `${name}-s`].flatMap((n) => (p(n) ? [p(n)!] : []));
          if (procs.length === 0) return 'n/a';
          const cpu = procs.reduce((sum, proc) => sum + proc.cpuSeconds, 0);
          return `${cpu.toFixed(1)} / ${Math.max(...procs.map((proc) => proc.peakMb))}`;
        };
        const refsCpu = (p('reference')?.cpuSeconds ?? 0) + (p('refWorker')?.cpuSeconds ?? 0);
        return [
          phase,
          reading.seconds.toFixed(1),
          reading.seconds >= 1 ? `${Math.round(reading.machineBusy * 100)} %` : '',
          cell('api'),
          cell('worker'),
          cell('temporal'),
          refsCpu.toFixed(1),
          reading.benchCpuSeconds.toFixed(1),
        ];
      }),
    ),
    '',
    '### Audit after each phase',
    '',
    table(
      ['after', 'database', 'result', 'claims', 'uncredited', 'transfers', 'ms'],
      data.audits.map((a) => [
        a.after,
        a.database,
        a.ok ? 'ok' : `**${a.violations} violations**`,
        int(a.claims),
        int(a.uncreditedClaims),
        int(a.transfers),
        int(a.durationMs),
      ]),
    ),
  );
  if (data.notes.length) out.push('', '### Notes', '', ...data.notes.map((note) => `- ${note}`));
  return `${out.join('\n')}\n`;
}
