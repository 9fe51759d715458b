/**
 * What a run found: figures, goals, per-phase CPU and memory, audits and facts, collected as the run goes
 * and rendered at the end as a Markdown table (printed, and written with the JSON to bench/results/).
 */
import type { AuditSummary } from './audit';
import type { CurveReport } from './overload/render';
import type { ServiceConfiguration } from './env';
import type { WindowReading } from './procstats';
import type { Figure, Goal } from './stats';

export interface SpreadStep {
  targetPerSecond: number;
  achievedPerSecond: number;
  opens: number;
  errors: number;
  late: number;
  flowP99Ms: number;
  lagP50Ms: number;
  lagP99Ms: number;
  lagMaxMs: number;
  uncredited: number;
  signalsPerOpen: number;
  /** History events after payment (the credit path) per credited claim. */
  eventsPerClaim: number;
  /** CPU ms per open (its credit included), by process; see Figure.cpuMsPerUnit. */
  cpuMsPerOpen: Record<string, number>;
  passed: boolean;
}

export interface ReportData {
  startedAt: string;
  finishedAt: string;
  durationSeconds: number;
  mode: 'quick' | 'default';
  /** 'started by the bench', or the --url measured. */
  service: string;
  /** The service's LOG_LEVEL and environment; set once the world is built. */
  configuration?: ServiceConfiguration;
  machine: Record<string, string | number>;
  sizes: object;
  figures: Figure[];
  goals: Goal[];
  spreadSteps: SpreadStep[];
  /** The latency curve (--only overload), one per flow. */
  curves: CurveReport[];
  /** Per scenario: counts that are not rates (claims, signals per open, events per claim, backlog). */
  facts: Record<string, Record<string, number | string | boolean>>;
  phases: { phase: string; reading: WindowReading }[];
  audits: AuditSummary[];
  notes: string[];
}

export class Report {
  readonly data: ReportData;

  constructor(init: Pick<ReportData, 'startedAt' | 'mode' | 'service' | 'machine' | 'sizes'>) {
    this.data = {
      ...init,
      finishedAt: '',
      durationSeconds: 0,
      figures: [],
      goals: [],
      spreadSteps: [],
      curves: [],
      facts: {},
      phases: [],
      audits: [],
      notes: [],
    };
  }

  add(figure: Figure): Figure {
    this.data.figures.push(figure);
    return figure;
  }

  figure(id: string): Figure | undefined {
    return this.data.figures.find((candidate) => candidate.id === id);
  }

  goal(scenario: string, goal: string, measured: string, met: boolean): void {
    this.data.goals.push({ scenario, goal, measured, met });
  }

  fact(scenario: string, key: string, value: number | string | boolean): void {
    (this.data.facts[scenario] ??= {})[key] = value;
  }

  note(line: string): void {
    this.data.notes.push(line);
  }
}
