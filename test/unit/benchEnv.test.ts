/**
 * The bench measures what ships: its API and worker run with docker-compose.yml's environment, changed only
 * where they find their world and in the rate limits the bench declares (bench/env.ts). A setting the bench
 * chose for itself (a quieter LOG_LEVEL, say) would make its figures those of a configuration nobody runs.
 */
import { join } from 'node:path';
import {
  BENCH_RATE_LIMITS,
  CELL_PLACEMENT_VARIABLES,
  PLACEMENT_VARIABLES,
  cellServiceEnv,
  configOf,
  configurationOf,
  serviceEnv,
  type ServiceName,
} from '../../bench/env';
import { loadConfig } from '../../config';
import { readCompose, serviceEnvironment } from '../../scripts/lib/compose';

const compose = readCompose(join(__dirname, '../../docker-compose.yml'));
const shell = { AUTH_SECRET: 'compose-test-secret-0123456789' };
/** A bench world's placement: its own database, prefix, Temporal and secret. */
const world = loadConfig({
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/rp_bench_x',
  REDIS_KEY_PREFIX: 'rp:bench:x:',
  TEMPORAL_ADDRESS: '127.0.0.1:40000',
  TEMPORAL_TASK_QUEUE: 'bench-x',
  AUTH_SECRET: 'a-random-bench-secret-0123456789',
});
const SERVICES: ServiceName[] = ['api', 'worker'];

describe("the bench's service environment is docker-compose.yml's", () => {
  it.each(SERVICES)('%s differs from compose only in placement and declared rate limits', (service) => {
    const shipped = serviceEnvironment(compose, service, shell);
    const bench = serviceEnv(service, world, 4321);
    const allowed = new Set<string>([...PLACEMENT_VARIABLES, ...Object.keys(BENCH_RATE_LIMITS)]);
    const names = [...new Set([...Object.keys(shipped), ...Object.keys(bench)])];
    const differing = names.filter((name) => shipped[name] !== bench[name]);
    expect(differing.filter((name) => !allowed.has(name))).toEqual([]);
  });

  it.each(SERVICES)(
    '%s with --traces is what compose gives an operator who exported an OTLP endpoint, tracing on',
    (service) => {
      const endpoint = 'http://127.0.0.1:4318';
      const shipped = serviceEnvironment(compose, service, {
        ...shell,
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
      });
      const bench = serviceEnv(service, world, 4321, endpoint);
      const allowed = new Set<string>([...PLACEMENT_VARIABLES, ...Object.keys(BENCH_RATE_LIMITS)]);
      const names = [...new Set([...Object.keys(shipped), ...Object.keys(bench)])];
      expect(names.filter((name) => shipped[name] !== bench[name] && !allowed.has(name))).toEqual([]);
      expect(configOf(bench).tracing?.tracesUrl).toBe(`${endpoint}/v1/traces`);
      // Without --traces, as compose ships it: off.
      expect(configOf(serviceEnv(service, world, 4321)).tracing).toBeUndefined();
    },
  );

  it.each(SERVICES)(
    '%s of a cell differs from compose only in placement, the cell and rate limits',
    (service) => {
      const shipped = serviceEnvironment(compose, service, shell);
      const bench = cellServiceEnv(service, world, 4321, {
        REGION: 's',
        CELLS: 'n,s',
        CELL_URLS: 'n=http://127.0.0.1:4322',
        CELL_INTERNAL_TOKEN: 'x'.repeat(32),
        WORKER_METRICS_PORT: '4323',
      });
      const allowed = new Set<string>([
        ...PLACEMENT_VARIABLES,
        ...CELL_PLACEMENT_VARIABLES,
        ...Object.keys(BENCH_RATE_LIMITS),
      ]);
      const names = [...new Set([...Object.keys(shipped), ...Object.keys(bench)])];
      expect(names.filter((name) => shipped[name] !== bench[name] && !allowed.has(name))).toEqual([]);
      expect(() => cellServiceEnv(service, world, 4321, { LOG_LEVEL: 'warn' } as never)).toThrow(/LOG_LEVEL/);
    },
  );

  it('places only: addresses, names, the port and the secret, and declares only rate limits', () => {
    expect([...PLACEMENT_VARIABLES].sort()).toEqual(
      [
        'AUTH_SECRET',
        'DATABASE_SCHEMA',
        'DATABASE_URL',
        'HOST',
        'PORT',
        'REDIS_KEY_PREFIX',
        'REDIS_URL',
        'TEMPORAL_ADDRESS',
        'TEMPORAL_NAMESPACE',
        'TEMPORAL_TASK_QUEUE',
      ].sort(),
    );
    for (const name of Object.keys(BENCH_RATE_LIMITS)) expect(name).toMatch(/^RATE_LIMIT_/);
  });

  it.each(SERVICES)('%s runs at the LOG_LEVEL a deployment runs at, and the report says which', (service) => {
    const shipped = configOf(serviceEnvironment(compose, service, shell));
    const bench = configOf(serviceEnv(service, world, 4321));
    expect(bench.logLevel).toBe(shipped.logLevel);
    expect(bench.logSlowRequestMs).toBe(shipped.logSlowRequestMs);
    expect(bench.nodeEnv).toBe('production');
    const stated = configurationOf(serviceEnv('api', world, 4321));
    expect(stated.logLevel).toMatch(new RegExp(`^${shipped.logLevel} `));
    expect(JSON.stringify(stated)).not.toContain(world.auth.secret);
  });
});
