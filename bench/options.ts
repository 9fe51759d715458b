import type { CurveFlowName } from './overload/flows';

/**
 * Command line and run sizes. `--quick` keeps the whole run under two minutes on a 2-core machine; the
 * default is the size the issue names (10,000-client storm, 50 x 100 bursts, 500 x 10 spread packets).
 */
export interface Sizes {
  /** Grab-then-open flows sent to warm the JIT of every server before anything is measured. */
  warmupFlows: number;
  /** Scenario 1: clients on one 100-share packet, and how many run at once. */
  stormClients: number;
  stormConcurrency: number;
  /** Scenario 2: packets of 100 shares, each opened by its own crowd. */
  burstPackets: number;
  burstConcurrency: number;
  /** Scenario 3: packets of 10 shares per rate step; rising steps as fractions of the raw signal rate. */
  spreadPackets: number;
  spreadSteps: number[];
  /** Longest a rate step runs; slower steps open only part of each packet. */
  spreadStepSeconds: number;
  /** After the first failing step, try once halfway between it and the last passing one. */
  spreadRefine: boolean;
  /** Scenario 4 and its reference: packets sent (workflows run) and how many at once. */
  sends: number;
  sendConcurrency: number;
  trivialWorkflows: number;
  /** Machine limits: grabShare calls straight to Redis; open transactions straight to Postgres. */
  redisGrabs: number;
  redisConcurrency: number;
  pgOpenPackets: number;
  pgConcurrency: number;
  /** The latency curve (--only overload): load steps, % of each flow's capacity measured in the run. */
  overloadSteps: readonly number[];
  overloadFlows: readonly CurveFlowName[];
  /** Seconds of each step, of each closed-loop capacity run, and at 50 % after the 200 % step. */
  overloadStepSeconds: number;
  overloadCapacitySeconds: number;
  overloadRecoverySeconds: number;
  /** Caps each flow's capacity (so every step's rate) for a short smoke run; undefined: as measured. */
  overloadMaxRate: number | undefined;
}

const CURVE_STEPS = [25, 50, 75, 80, 90, 100, 125, 150, 200];
const CURVE_FLOWS: readonly CurveFlowName[] = ['storm', 'spread', 'send'];
/** The recovery is judged over 5 s, so the 50 % after the overload lasts longer than that. */
const MIN_RECOVERY_SECONDS = 6;

export const SHARES_PER_BURST_PACKET = 100;
export const SHARES_PER_SPREAD_PACKET = 10;
export const STORM_SHARES = 100;

const QUICK: Sizes = {
  warmupFlows: 600,
  stormClients: 4_000,
  stormConcurrency: 500,
  burstPackets: 15,
  burstConcurrency: 500,
  spreadPackets: 100,
  spreadSteps: [0.03, 0.1, 0.25, 0.5],
  spreadStepSeconds: 5,
  spreadRefine: false,
  sends: 150,
  sendConcurrency: 50,
  trivialWorkflows: 150,
  redisGrabs: 20_000,
  redisConcurrency: 500,
  pgOpenPackets: 20,
  pgConcurrency: 20,
  overloadSteps: CURVE_STEPS,
  overloadFlows: CURVE_FLOWS,
  overloadStepSeconds: 3,
  overloadCapacitySeconds: 3,
  overloadRecoverySeconds: MIN_RECOVERY_SECONDS,
  overloadMaxRate: undefined,
};

const FULL: Sizes = {
  warmupFlows: 1_500,
  stormClients: 10_000,
  stormConcurrency: 500,
  burstPackets: 50,
  burstConcurrency: 500,
  spreadPackets: 500,
  spreadSteps: [0.02, 0.04, 0.08, 0.15, 0.3, 0.5, 0.8, 1.0],
  spreadStepSeconds: 12,
  spreadRefine: true,
  sends: 500,
  sendConcurrency: 50,
  trivialWorkflows: 400,
  redisGrabs: 50_000,
  redisConcurrency: 500,
  pgOpenPackets: 100,
  pgConcurrency: 20,
  overloadSteps: CURVE_STEPS,
  overloadFlows: CURVE_FLOWS,
  overloadStepSeconds: 10,
  overloadCapacitySeconds: 8,
  overloadRecoverySeconds: 8,
  overloadMaxRate: undefined,
};

export const PHASES = [
  'machine',
  'storm',
  'temporal',
  'bursts',
  'spread',
  'send',
  'cells',
  'rcluster',
  'tcluster',
  'overload',
] as const;
export type PhaseName = (typeof PHASES)[number];
/**
 * Phases only `--only` runs: each starts a distributed engine and a second service and adds minutes (issue 29,
 * docs/redis-cluster.md and docs/temporal-cluster.md), or drives the service past its capacity for minutes
 * (overload, issue 32: docs/overload.md), which a plain `npm run bench` should not pay.
 */
export const OPT_IN_PHASES: readonly PhaseName[] = ['rcluster', 'tcluster', 'overload'];
const DEFAULT_PHASES = PHASES.filter((name) => !OPT_IN_PHASES.includes(name));

export interface BenchOptions {
  quick: boolean;
  /** Phases to run (warm-up always runs); all by default. */
  only: Set<PhaseName>;
  /** A running service to measure instead of starting one (loopback only). */
  url: string | undefined;
  /** Start the API child under `node --cpu-prof` and summarise where its time went. */
  profile: boolean;
  /**
   * Tracing on in the service's children (docs/tracing.md): `sink` exports to a stand-in collector the bench
   * runs (bench/otlpSink.ts), a URL to that collector; undefined leaves tracing off, as compose ships it.
   */
  traces: string | undefined;
  sizes: Sizes;
}

export const USAGE = `usage: npm run bench -- [--quick] [--only PHASE,...] [--url http://127.0.0.1:PORT] [--profile]
       [--traces[=URL]] [--flows storm,spread,send] [--step-seconds S] [--max-rate N]
  --quick    a smaller run, under two minutes
  --only     some of ${PHASES.join(', ')} (spread brings temporal, whose signal rate sets its steps;
             ${OPT_IN_PHASES.join(' and ')} run only when named here)
  --url      measure a running service (its DATABASE_URL, REDIS_*, TEMPORAL_ADDRESS and AUTH_SECRET come from
             the environment, as for the service itself); references still run in a world of their own
  --profile  run the API child under node --cpu-prof and print where its CPU time went
  --traces   tracing on in the API and worker (OTEL_EXPORTER_OTLP_ENDPOINT, as an operator sets it for
             docker compose): to a stand-in collector in the bench, or with =URL to the collector there

  overload (the latency curve) only:
  --flows         some of ${CURVE_FLOWS.join(', ')} (all by default)
  --step-seconds  seconds of each load step and capacity run (a short smoke run)
  --max-rate      caps each flow's measured capacity, so every step's rate, per second (a smoke run)`;

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export class UsageError extends Error {
  override readonly name = 'UsageError';
  /** True for --help: the usage was asked for, so it is not a failure. */
  helpOnly = false;
}

export function parseOptions(argv: readonly string[]): BenchOptions {
  let quick = false;
  let url: string | undefined;
  let profile = false;
  let traces: string | undefined;
  let only = new Set<PhaseName>(DEFAULT_PHASES);
  const curve: Partial<Sizes> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--quick') quick = true;
    else if (arg === '--flows') curve.overloadFlows = parseFlows(argv[++i]);
    else if (arg === '--step-seconds') {
      const seconds = positive('--step-seconds', argv[++i]);
      curve.overloadStepSeconds = seconds;
      curve.overloadCapacitySeconds = seconds;
      curve.overloadRecoverySeconds = Math.max(MIN_RECOVERY_SECONDS, seconds);
    } else if (arg === '--max-rate') curve.overloadMaxRate = positive('--max-rate', argv[++i]);
    else if (arg === '--only') only = parsePhases(argv[++i]);
    else if (arg === '--profile') profile = true;
    else if (arg === '--url') url = argv[++i];
    else if (arg?.startsWith('--url=')) url = arg.slice('--url='.length);
    else if (arg === '--traces') traces = 'sink';
    else if (arg?.startsWith('--traces=')) traces = parseTracesUrl(arg.slice('--traces='.length));
    else if (arg === '--help' || arg === '-h') {
      const help = new UsageError(USAGE);
      help.helpOnly = true;
      throw help;
    } else throw new UsageError(`unknown argument ${String(arg)}\n${USAGE}`);
  }
  if (url !== undefined) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (err) {
      throw new UsageError(`--url ${url} is not a URL`, { cause: err });
    }
    // The bench sends thousands of requests a second: it only ever aims them at this machine.
    if (parsed.protocol !== 'http:' || !LOOPBACK_HOSTS.has(parsed.hostname))
      throw new UsageError(`--url must be http://127.0.0.1:PORT (loopback only), not ${url}`);
    url = parsed.origin;
    if (profile) throw new UsageError('--profile needs the API the bench starts itself; drop --url');
    if (traces) throw new UsageError('--traces sets the environment of the API the bench starts; drop --url');
  }
  if (only.has('spread')) only.add('temporal');
  return { quick, url, profile, traces, only, sizes: { ...(quick ? QUICK : FULL), ...curve } };
}

function parseTracesUrl(url: string): string {
  try {
    if (['http:', 'https:'].includes(new URL(url).protocol)) return url;
  } catch {
    // Answered below, as any other value that is not a collector's URL.
  }
  throw new UsageError(`--traces=URL takes a collector's OTLP/HTTP base URL, not ${url}`);
}

function positive(flag: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} takes a positive number; got ${String(value)}`);
  return n;
}

function parseFlows(list: string | undefined): CurveFlowName[] {
  const names = (list ?? '').split(',').filter(Boolean);
  const unknown = names.filter((name) => !(CURVE_FLOWS as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0)
    throw new UsageError(`--flows takes a list of ${CURVE_FLOWS.join(', ')}; got ${list ?? 'nothing'}`);
  return names as CurveFlowName[];
}

function parsePhases(list: string | undefined): Set<PhaseName> {
  const names = (list ?? '').split(',').filter(Boolean);
  const unknown = names.filter((name) => !(PHASES as readonly string[]).includes(name));
  if (names.length === 0 || unknown.length > 0)
    throw new UsageError(`--only takes a list of ${PHASES.join(', ')}; got ${list ?? 'nothing'}`);
  return new Set(names as PhaseName[]);
}
