/**
 * The environment of every child the bench starts. The service runs with what a user's deployment gets:
 * docker-compose.yml's environment for its `api` and `worker` services (read from the file, so there is one
 * source), changed in two named ways only: where the child finds its world (PLACEMENT_VARIABLES: the bench's
 * own database, key prefix, Temporal server, task queue, port and a random AUTH_SECRET), and the rate limits
 * the bench declares (BENCH_RATE_LIMITS). Nothing else, LOG_LEVEL included, is the bench's to choose;
 * test/unit/benchEnv.test.ts holds it to that.
 */
import { join } from 'node:path';
import { ENV_VARIABLES, loadConfig, type Config } from '../config';
import { readCompose, serviceEnvironment } from '../scripts/lib/compose';
import { ROOT } from './children';

export type ServiceName = 'api' | 'worker';

/** Far above what the bench sends, so rate limits run (a Redis call each) but never refuse. */
const GENEROUS_RATE = '10000000';

/** The one behaviour the bench changes: limits on, as shipped, but never reached by its load. */
export const BENCH_RATE_LIMITS: Readonly<Record<string, string>> = {
  RATE_LIMIT_ENABLED: 'true',
  RATE_LIMIT_IP_PER_SECOND: GENEROUS_RATE,
  RATE_LIMIT_USER_PER_SECOND: GENEROUS_RATE,
  RATE_LIMIT_PACKET_PER_SECOND: GENEROUS_RATE,
  RATE_LIMIT_SEND_PER_SECOND: GENEROUS_RATE,
};

/** Variables that say where a child's world is (and its secret), never how the service behaves. */
export const PLACEMENT_VARIABLES = [
  'HOST',
  'PORT',
  'DATABASE_URL',
  'DATABASE_SCHEMA',
  'REDIS_URL',
  'REDIS_KEY_PREFIX',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_TASK_QUEUE',
  'AUTH_SECRET',
] as const;

/** Compose refuses to start without the operator's AUTH_SECRET; the bench's own replaces this one. */
const OPERATOR_SHELL = { AUTH_SECRET: 'bench-stands-in-for-the-operator-secret' };

/**
 * docker-compose.yml's environment for `service`, as `docker compose up` gives it; with `tracesEndpoint` as
 * it gives it to an operator who exported OTEL_EXPORTER_OTLP_ENDPOINT (compose passes that variable through),
 * so a run with tracing on (`--traces`) still runs exactly what ships, with tracing turned on.
 */
export function composeEnvironment(service: ServiceName, tracesEndpoint?: string): Record<string, string> {
  const shell = tracesEndpoint
    ? { ...OPERATOR_SHELL, OTEL_EXPORTER_OTLP_ENDPOINT: tracesEndpoint }
    : OPERATOR_SHELL;
  return serviceEnvironment(readCompose(join(ROOT, 'docker-compose.yml')), service, shell);
}

function placement(config: Config, port: number): Record<(typeof PLACEMENT_VARIABLES)[number], string> {
  return {
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: config.database.url,
    DATABASE_SCHEMA: config.database.schema,
    REDIS_URL: config.redis.url,
    REDIS_KEY_PREFIX: config.redis.keyPrefix,
    TEMPORAL_ADDRESS: config.temporal.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    AUTH_SECRET: config.auth.secret,
  };
}

/**
 * The whole environment of the service's `api` or `worker` child, placed in the world `config` names, with
 * tracing on when `tracesEndpoint` is given (composeEnvironment).
 */
export function serviceEnv(
  service: ServiceName,
  config: Config,
  port: number,
  tracesEndpoint?: string,
): Record<string, string> {
  return { ...composeEnvironment(service, tracesEndpoint), ...placement(config, port), ...BENCH_RATE_LIMITS };
}

/**
 * Variables of a cell in the two-cell phase (bench/cellPair.ts) on top of its placement: which cell it is, the
 * others and how to reach them, never how the service behaves.
 */
export const CELL_PLACEMENT_VARIABLES = [
  'REGION',
  'CELLS',
  'CELL_URLS',
  'CELL_INTERNAL_TOKEN',
  'CELL_DATABASE_URLS',
  'WORKER_METRICS_PORT',
  'TEMPORAL_METRICS_PORT',
] as const;

/** A cell's `api` or `worker` child: the service's environment, and the cell's placement. */
export function cellServiceEnv(
  service: ServiceName,
  config: Config,
  port: number,
  cell: Partial<Record<(typeof CELL_PLACEMENT_VARIABLES)[number], string>>,
): Record<string, string> {
  const known = new Set<string>(CELL_PLACEMENT_VARIABLES);
  const stray = Object.keys(cell).filter((name) => !known.has(name));
  if (stray.length > 0) throw new Error(`not a cell placement variable: ${stray.join(', ')}`);
  return { ...serviceEnv(service, config, port), ...(cell as Record<string, string>) };
}

/** The configuration a child started with `env` alone runs with (every unset variable at its default). */
export function configOf(env: Readonly<Record<string, string>>): Config {
  const unset = Object.fromEntries(ENV_VARIABLES.map((name) => [name, undefined]));
  return loadConfig({ ...unset, ...env });
}

/**
 * The references' children and chaos's service: the API's environment, plus expiries down to a second,
 * since chaos sends packets that expire in seconds (the bench itself sends none).
 */
export function childEnv(config: Config, port: number): Record<string, string> {
  return { ...serviceEnv('api', config, port), PACKET_MIN_EXPIRY_SECONDS: '1' };
}

/** What the report says the service ran with. */
export interface ServiceConfiguration {
  /** Where its environment came from and what the bench changed. */
  source: string;
  /** The LOG_LEVEL it ran at, and whether compose set it or it was the default. */
  logLevel: string;
  /** The API child's whole environment for the config module (AUTH_SECRET hidden); absent with --url. */
  env?: Record<string, string>;
}

export function configurationOf(apiEnv: Readonly<Record<string, string>>): ServiceConfiguration {
  const fromCompose = composeEnvironment('api')['LOG_LEVEL'] !== undefined;
  return {
    source:
      "docker-compose.yml's api and worker environment; the bench replaced where they run " +
      `(${PLACEMENT_VARIABLES.join(', ')}) and declared its rate limits (${Object.keys(BENCH_RATE_LIMITS).join(', ')})`,
    logLevel: `${configOf(apiEnv).logLevel} (${fromCompose ? 'set by compose' : 'the default: compose sets none'})`,
    env: { ...apiEnv, AUTH_SECRET: '(random)' },
  };
}
