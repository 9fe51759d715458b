/**
 * The distributed-engine phases' pure parts (issue 29): rounds alternate so drift touches both sides, the
 * ratio is of medians and judged against its goal, the second service runs compose's environment with only
 * its placement changed (a figure that needs a setting users do not run does not count), and the phases run
 * only when `--only` names them.
 */
import { join } from 'node:path';
import {
  describeVerdict,
  formatRounds,
  judgeRatio,
  median,
  roundOrder,
  sumOver,
} from '../../bench/engineRounds';
import { BENCH_RATE_LIMITS, PLACEMENT_VARIABLES, configOf } from '../../bench/env';
import { OPT_IN_PHASES, parseOptions } from '../../bench/options';
import { sidePlacement, sideServiceEnv, type SidePlan } from '../../bench/sideService';
import { loadConfig } from '../../config';
import { readCompose, serviceEnvironment } from '../../scripts/lib/compose';

describe('rounds and ratios', () => {
  it('alternates which side goes first, round by round', () => {
    expect(roundOrder(3)).toEqual([
      ['one', 'distributed'],
      ['distributed', 'one'],
      ['one', 'distributed'],
    ]);
    for (const order of roundOrder(4)) expect([...order].sort()).toEqual(['distributed', 'one']);
  });

  it('takes the median, the middle two averaged for an even count', () => {
    expect(median([])).toBe(0);
    expect(median([5])).toBe(5);
    expect(median([9, 1, 5])).toBe(5);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('judges the distributed median against the one-engine median', () => {
    const met = judgeRatio({ one: [1000, 2000, 1100], distributed: [1000, 990, 100] }, 0.9);
    expect(met.oneMedian).toBe(1100);
    expect(met.distributedMedian).toBe(990);
    expect(met.ratio).toBeCloseTo(0.9, 10);
    expect(met.met).toBe(true);
    const missed = judgeRatio({ one: [1000, 1000, 1000], distributed: [899, 899, 5000] }, 0.9);
    expect(missed.met).toBe(false);
    expect(missed.ratio).toBeCloseTo(0.899, 10);
  });

  it('reports without judging when there is no goal, and never divides by nothing', () => {
    const reported = judgeRatio({ one: [40, 42, 41], distributed: [30, 33, 31] });
    expect(reported.goal).toBeUndefined();
    expect(reported.met).toBeUndefined();
    const empty = judgeRatio({ one: [], distributed: [3] }, 0.9);
    expect(Number.isNaN(empty.ratio)).toBe(true);
    expect(empty.met).toBe(false);
  });

  it('says the verdict and the rounds in the report', () => {
    const verdict = judgeRatio({ one: [6100, 6000, 6200], distributed: [5500, 5900, 5800] }, 0.9);
    expect(describeVerdict(verdict, '/s')).toBe('5,800/s vs 6,100/s: 0.95x (goal >= 0.9x)');
    expect(describeVerdict(judgeRatio({ one: [40], distributed: [30.25] }), ' ms', 1)).toBe(
      '30.3 ms vs 40.0 ms: 0.76x',
    );
    expect(formatRounds([1.26, 2], 1)).toBe('1.3, 2.0');
  });

  it('sums a reading over the processes named, absent ones as zero', () => {
    expect(sumOver({ 'redis-c0': 0.5, 'redis-c1': 0.25, api: 9 }, ['redis-c0', 'redis-c1', 'redis-c2'])).toBe(
      0.75,
    );
  });
});

describe('the second service of an engine phase', () => {
  const base = loadConfig({
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/rp_bench_x',
    REDIS_KEY_PREFIX: 'rp:bench:x:',
    AUTH_SECRET: 'a-random-bench-secret-0123456789',
  });
  const plan: SidePlan = {
    runId: 'x',
    tag: 'rc',
    base,
    redisUrl: 'redis+cluster://127.0.0.1:7200,127.0.0.1:7201,127.0.0.1:7202',
    temporalAddress: '127.0.0.1:40000',
    namespace: 'rp-rc',
  };

  it('is placed in a world of its own, on the cluster, with the same secret', () => {
    const placement = sidePlacement(plan, 4321);
    expect(Object.keys(placement).sort()).toEqual([...PLACEMENT_VARIABLES].sort());
    expect(placement.DATABASE_URL).toMatch(/\/rp_bench_x_rc$/);
    expect(placement.DATABASE_URL).not.toBe(base.database.url);
    expect(placement.REDIS_KEY_PREFIX).toBe('rp:bench:x:rc:');
    expect(placement.REDIS_KEY_PREFIX).not.toMatch(/[{}]/);
    expect(placement.AUTH_SECRET).toBe(base.auth.secret);
    const config = configOf(placement);
    expect(config.redis.cluster?.nodes).toHaveLength(3);
    expect(config.temporal.namespace).toBe('rp-rc');
  });

  it.each(['api', 'worker'] as const)("runs %s with compose's environment, only placed", (service) => {
    const shipped = serviceEnvironment(readCompose(join(__dirname, '../../docker-compose.yml')), service, {
      AUTH_SECRET: 'compose-test-secret-0123456789',
    });
    const env = sideServiceEnv(service, plan, 4321);
    const allowed = new Set<string>([...PLACEMENT_VARIABLES, ...Object.keys(BENCH_RATE_LIMITS)]);
    const names = [...new Set([...Object.keys(shipped), ...Object.keys(env)])];
    expect(names.filter((name) => shipped[name] !== env[name] && !allowed.has(name))).toEqual([]);
    expect(env['REDIS_URL']).toBe(plan.redisUrl);
  });
});

describe('the engine phases are opt-in', () => {
  it('a plain run leaves them out and --only runs them', () => {
    const plain = parseOptions([]);
    for (const name of OPT_IN_PHASES) expect(plain.only.has(name)).toBe(false);
    expect(plain.only.has('storm')).toBe(true);
    expect([...parseOptions(['--only', 'rcluster,tcluster']).only].sort()).toEqual(['rcluster', 'tcluster']);
  });
});
