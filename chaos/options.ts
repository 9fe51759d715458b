/** `npm run chaos -- [--duration 150] [--seed N] [--faults a,b] [--quick]`: what one chaos run does. */

export const FAULT_KINDS = [
  'api-kill',
  'api-pause',
  'worker-kill',
  'worker-pause',
  'temporal-kill',
  'temporal-pause',
  'postgres-crash',
  'redis-wipe',
  'cut-api-postgres',
  'cut-api-redis',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

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
}

/**
 * 150 s with three of each of the ten kinds (30 faults, overlapping) keeps five runs to about half an hour on
 * the 2-core machine. --quick (CI) is one of each in 60 s on a fixed seed, so CI replays the same schedule.
 */
const DEFAULTS = { durationS: 150, perKind: 3, healBudgetS: 150, maxExpiryS: 40 };
const QUICK = { durationS: 60, perKind: 1, healBudgetS: 120, maxExpiryS: 25, seed: 18 };

const USAGE =
  'usage: npm run chaos -- [--duration SECONDS] [--seed N] [--faults kind,kind] [--per-kind N] [--quick]\n' +
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
  const base = quick ? QUICK : DEFAULTS;
  const options: ChaosOptions = {
    durationS: base.durationS,
    seed: quick ? QUICK.seed : Date.now() % 1_000_000,
    faults: [...FAULT_KINDS],
    perKind: base.perKind,
    healBudgetS: base.healBudgetS,
    maxExpiryS: base.maxExpiryS,
    quick,
  };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--quick') continue;
    if (flag === '--help' || flag === '-h') throw new Error(USAGE);
    if (flag === '--duration') options.durationS = positiveInt(flag, value);
    else if (flag === '--seed') options.seed = positiveInt(flag, value);
    else if (flag === '--faults') options.faults = faultList(value);
    else if (flag === '--per-kind') options.perKind = positiveInt(flag, value);
    else if (flag === '--heal') options.healBudgetS = positiveInt(flag, value);
    else throw new Error(`unknown option ${flag}\n${USAGE}`);
    i++;
  }
  if (options.durationS < 20) throw new Error(`--duration must be at least 20 s\n${USAGE}`);
  return options;
}
