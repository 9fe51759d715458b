/**
 * `npm run chaos -- [--duration 150] [--seed N] [--faults a,b] [--quick] [--temporal cluster]`: what one chaos
 * run does.
 */
import type { TemporalMode } from '../scripts/lib/devTemporalCluster';

/** `--cells --failover <kind>`: the database failover faults of chaos/cellsFailover.ts. */
export const FAILOVER_KINDS = ['primary-crash', 'host-kill', 'standby-loss', 'async-crash'] as const;
export type FailoverKind = (typeof FAILOVER_KINDS)[number];

export const FAULT_KINDS = [
  'api-kill',
  'api-pause',
  'worker-kill',
  'worker-pause',
  'temporal-kill',
  'temporal-pause',
  // One node of the two-node Temporal server killed (--temporal cluster only, chaos/temporalCluster.ts).
  'temporal-node-kill',
  'postgres-crash',
  'redis-wipe',
  'cut-api-postgres',
  'cut-api-redis',
  'redis-master-kill',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/**
 * Kinds that need one Redis (a wipe of it, a cut of the API's proxy to it) and the kind that needs a Redis
 * Cluster (`--redis-cluster`: a master SIGKILLed, its replica promoted, the node started again as a replica).
 */
const SINGLE_REDIS_KINDS: readonly FaultKind[] = ['redis-wipe', 'cut-api-redis'];
const CLUSTER_KINDS: readonly FaultKind[] = ['redis-master-kill'];

export interface ChaosOptions {
  durationS: number;
  seed: number;
  faults: FaultKind[];
  /** Every kind is injected at least this often, spread over the fault window. */
  perKind: number;
  /** How long after the faults stop the system may take to settle everything it owes. */
  healBudgetS: number;
  /** Longest packet lifetime the load asks for: every packet has expired soon after the load stops. */
  maxExpiryS: number;
  quick: boolean;
  /** `--cells`: the region outage run (chaos/cellsMain.ts) instead of the fault schedule. */
  cells: boolean;
  /** With --cells: how long one cell stays cut off. */
  cutS: number;
  /**
   * With --cells: `--failover [kind]` breaks the chosen cell's Patroni pair instead of cutting the cell
   * (chaos/cellsFailover.ts; primary-crash when no kind is given).
   */
  failover?: FailoverKind;
  /** `--redis-cluster`: the world's Redis is a 3-master Redis Cluster (docs/redis-cluster.md). */
  redisCluster: boolean;
  /** `--temporal cluster`: Temporal as two server nodes on Postgres, and `temporal-node-kill` in the faults. */
  temporal: TemporalMode;
}

/**
 * The kinds a world can take: a dev server has no nodes to kill one of, one Redis no master to kill, and a
 * Redis Cluster no single Redis to wipe or cut.
 */
export function faultKindsFor(temporal: TemporalMode, redisCluster = false): FaultKind[] {
  const unfit = redisCluster ? SINGLE_REDIS_KINDS : CLUSTER_KINDS;
  return FAULT_KINDS.filter(
    (kind) => (temporal === 'cluster' || kind !== 'temporal-node-kill') && !unfit.includes(kind),
  );
}

/**
 * 150 s with three of each of the ten kinds (30 faults, overlapping) keeps five runs to about half an hour on
 * the 2-core machine. --quick (CI) is one of each in 60 s on a fixed seed, so CI replays the same schedule.
 */
const DEFAULTS = { durationS: 150, perKind: 3, healBudgetS: 150, maxExpiryS: 40 };
const QUICK = { durationS: 60, perKind: 1, healBudgetS: 120, maxExpiryS: 25, seed: 18 };
/**
 * --cells: 90 s of light load with one cell cut for 30 s. Its --quick form (CI) cuts for 15 s in 50 s of load
 * on a fixed seed, which with start-up and the heal stays within about two and a half minutes.
 */
const CELLS = { durationS: 90, cutS: 30, healBudgetS: 120, maxExpiryS: 25 };
const CELLS_QUICK = { durationS: 50, cutS: 15, healBudgetS: 120, maxExpiryS: 20, seed: 27 };

const USAGE =
  'usage: npm run chaos -- [--duration SECONDS] [--seed N] [--faults kind,kind] [--per-kind N] [--quick]\n' +
  '                          [--temporal cluster] [--redis-cluster]\n' +
  '       npm run chaos -- --cells [--quick] [--seed N] [--duration SECONDS] [--cut SECONDS] [--heal SECONDS]\n' +
  `                            [--failover [${FAILOVER_KINDS.join('|')}]]\n` +
  `fault kinds: ${FAULT_KINDS.join(', ')}`;

function positiveInt(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${flag} needs a whole number, got ${value}\n${USAGE}`);
  return n;
}

function faultList(value: string | undefined): FaultKind[] {
  const kinds = (value ?? '').split(',').filter(Boolean);
  for (const kind of kinds) {
    if (!(FAULT_KINDS as readonly string[]).includes(kind))
      throw new Error(`unknown fault ${kind}\n${USAGE}`);
  }
  return kinds as FaultKind[];
}

export function parseOptions(argv: readonly string[]): ChaosOptions {
  const quick = argv.includes('--quick');
  const cells = argv.includes('--cells');
  const redisCluster = argv.includes('--redis-cluster');
  const unfit = redisCluster ? SINGLE_REDIS_KINDS : CLUSTER_KINDS;
  const base = cells
    ? { ...(quick ? CELLS_QUICK : CELLS), perKind: 0 }
    : { ...(quick ? QUICK : DEFAULTS), cutS: 0 };
  const options: ChaosOptions = {
    durationS: base.durationS,
    seed: quick ? (cells ? CELLS_QUICK.seed : QUICK.seed) : Date.now() % 1_000_000,
    faults: cells ? [] : FAULT_KINDS.filter((kind) => !unfit.includes(kind)),
    perKind: base.perKind,
    healBudgetS: base.healBudgetS,
    maxExpiryS: base.maxExpiryS,
    quick,
    cells,
    cutS: base.cutS,
    redisCluster,
    temporal: 'dev',
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--quick' || flag === '--cells' || flag === '--redis-cluster') continue;
    if (flag === '--failover' && cells) {
      const kind = (FAILOVER_KINDS as readonly string[]).includes(value ?? '')
        ? (value as FailoverKind)
        : undefined;
      options.failover = kind ?? 'primary-crash';
      if (kind) i++;
      continue;
    }
    if (flag === '--temporal' && !cells && (value === 'cluster' || value === 'dev')) {
      options.temporal = value;
      i++;
      continue;
    }
    if (flag === '--help' || flag === '-h') throw new Error(USAGE);
    if (flag === '--duration') options.durationS = positiveInt(flag, value);
    else if (flag === '--seed') options.seed = positiveInt(flag, value);
    else if (flag === '--faults') options.faults = faultList(value);
    else if (flag === '--per-kind') options.perKind = positiveInt(flag, value);
    else if (flag === '--heal') options.healBudgetS = positiveInt(flag, value);
    else if (flag === '--cut' && cells) options.cutS = positiveInt(flag, value);
    else throw new Error(`unknown option ${flag}\n${USAGE}`);
    i++;
  }
  // Without --faults, every kind the world can take; with it, a node fault needs the cluster.
  if (!argv.includes('--faults') && !cells) options.faults = faultKindsFor(options.temporal, redisCluster);
  if (options.faults.includes('temporal-node-kill') && options.temporal !== 'cluster')
    throw new Error(`temporal-node-kill needs --temporal cluster\n${USAGE}`);
  if (options.durationS < 20) throw new Error(`--duration must be at least 20 s\n${USAGE}`);
  if (cells && redisCluster) throw new Error(`--redis-cluster is not for --cells\n${USAGE}`);
  const misfit = options.faults.filter((kind) => unfit.includes(kind));
  if (misfit.length > 0)
    throw new Error(
      `${misfit.join(', ')} ${redisCluster ? 'needs one Redis, not --redis-cluster' : 'needs --redis-cluster'}\n${USAGE}`,
    );
  if (cells && (options.cutS < 1 || options.durationS < options.cutS + 25))
    throw new Error(`--cells needs --cut of at least 1 s and --duration at least --cut + 25 s\n${USAGE}`);
  return options;
}
