/** Latency summaries and the figure records every scenario reports. */

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  meanMs: number;
}

/** Nearest-rank percentile of an ascending array. */
function percentile(sorted: Float64Array, fraction: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil(fraction * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] ?? 0;
}

export function summarize(samplesMs: readonly number[]): LatencySummary {
  const sorted = Float64Array.from(samplesMs).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    count: sorted.length,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    maxMs: sorted.length ? (sorted[sorted.length - 1] ?? 0) : 0,
    meanMs: sorted.length ? sum / sorted.length : 0,
  };
}

/** One measured line of the report: a rate with its latency, judged against a reference. */
export interface Figure {
  id: string;
  label: string;
  /** What one unit of `count` is: flows, requests, opens, workflows, signals... */
  unit: string;
  count: number;
  durationMs: number;
  perSecond: number;
  latency: LatencySummary | undefined;
  errors: number;
  /** Rate ratios to the references this figure is judged against (perSecond / reference perSecond). */
  versus: { id: string; label: string; ratio: number }[];
  /** CPU milliseconds per unit of `count`, by process (api, worker, temporal, reference, refWorker, bench, other). */
  cpuMsPerUnit?: Record<string, number>;
  notes: string[];
}

export function figure(
  fields: Omit<Figure, 'perSecond' | 'latency' | 'versus' | 'notes'> & {
    latencies?: readonly number[];
    notes?: string[];
  },
): Figure {
  const { latencies, ...rest } = fields;
  return {
    ...rest,
    perSecond: fields.durationMs > 0 ? (fields.count * 1000) / fields.durationMs : 0,
    latency: latencies ? summarize(latencies) : undefined,
    versus: [],
    notes: fields.notes ?? [],
  };
}

/** Records `subject`'s rate as a ratio of `reference`'s and returns the ratio. */
export function compare(subject: Figure, reference: Figure | undefined): number {
  if (!reference || reference.perSecond === 0) return Number.NaN;
  const ratio = subject.perSecond / reference.perSecond;
  subject.versus.push({ id: reference.id, label: reference.label, ratio });
  return ratio;
}

/** A goal of the issue, with the measured value and whether it is met. */
export interface Goal {
  scenario: string;
  goal: string;
  measured: string;
  met: boolean;
}

export const round = (value: number, digits = 0): number => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};
