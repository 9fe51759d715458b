/**
 * The arithmetic of the distributed-engine phases (`--only rcluster`, `--only tcluster`, issue 29): the order
 * in which rounds alternate between the one-engine service and the distributed one, medians, the ratio judged
 * against a goal, and which sampled processes belong to which engine. Pure, so test/unit/benchEngines.test.ts
 * holds it without starting anything.
 */

/** The two services a round can run on: the bench's own (one Redis, dev server) and the distributed one. */
export type Side = 'one' | 'distributed';

/**
 * Which side runs first in each round: one, distributed; then distributed, one; and so on (ABBA). Drift on a
 * shared machine (a neighbour's load rising through the phase) then touches both sides alike, and neither
 * always pays for going first after a quiet wait or second behind the other's leftover work.
 */
export function roundOrder(rounds: number): Side[][] {
  return Array.from({ length: rounds }, (_, round) =>
    round % 2 === 0 ? ['one', 'distributed'] : ['distributed', 'one'],
  );
}

/** The median; the mean of the middle two for an even count, 0 for none. */
export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  if (sorted.length % 2 === 1) return sorted[middle] as number;
  return ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export interface RatioVerdict {
  oneMedian: number;
  distributedMedian: number;
  /** distributed / one, medians of the rounds; NaN when the one-engine side measured nothing. */
  ratio: number;
  /** The goal (a ratio at least this), or undefined when the figure is only reported. */
  goal: number | undefined;
  met: boolean | undefined;
}

/**
 * The distributed side against the one-engine side, medians of their rounds. Medians, not means: one round
 * hit by a neighbour's burst on a shared machine moves a mean of three a third of the way and a median not at
 * all.
 */
export function judgeRatio(
  rounds: Record<Side, readonly number[]>,
  goal: number | undefined = undefined,
): RatioVerdict {
  const oneMedian = median(rounds.one);
  const distributedMedian = median(rounds.distributed);
  const ratio = oneMedian > 0 ? distributedMedian / oneMedian : Number.NaN;
  return {
    oneMedian,
    distributedMedian,
    ratio,
    goal,
    met: goal === undefined ? undefined : Number.isFinite(ratio) && ratio >= goal,
  };
}

/** Per-round values as the report's facts show them: rounded, in round order. */
export function formatRounds(values: readonly number[], digits = 0): string {
  return values.map((value) => value.toFixed(digits)).join(', ');
}

/** `"5,900/s vs 6,100/s: 0.97x (goal >= 0.9x)"`: the verdict in one line for the goals table. */
export function describeVerdict(verdict: RatioVerdict, unit: string, digits = 0): string {
  const value = (number: number) =>
    number.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  const ratio = Number.isFinite(verdict.ratio) ? `${verdict.ratio.toFixed(2)}x` : 'n/a';
  const goal = verdict.goal === undefined ? '' : ` (goal >= ${verdict.goal}x)`;
  return `${value(verdict.distributedMedian)}${unit} vs ${value(verdict.oneMedian)}${unit}: ${ratio}${goal}`;
}

/** Sampler names of the Redis Cluster's six nodes (bench/engines.ts), summed in the report's redis column. */
export const REDIS_CLUSTER_PROCESSES = Array.from({ length: 6 }, (_, node) => `redis-c${node}`);
/** Sampler name of the machine's one Redis while the Redis Cluster phase samples it. */
export const ONE_REDIS_PROCESS = 'redis';
/** Sampler names of the two Temporal server nodes (bench/engines.ts), summed in the temporal column. */
export const TEMPORAL_NODE_PROCESSES = ['temporal-node0', 'temporal-node1'];

/** The processes of one engine on each side: what a round's "Redis CPU" or "Temporal CPU" sums. */
export const ENGINE_PROCESSES = {
  redis: { one: [ONE_REDIS_PROCESS], distributed: REDIS_CLUSTER_PROCESSES },
  temporal: { one: ['temporal'], distributed: TEMPORAL_NODE_PROCESSES },
} as const satisfies Record<string, Record<Side, readonly string[]>>;

/** A reading by process (CPU seconds, or ms per unit) summed over `names`; absent names count 0. */
export function sumOver(byProcess: Readonly<Record<string, number>>, names: readonly string[]): number {
  return names.reduce((sum, name) => sum + (byProcess[name] ?? 0), 0);
}
