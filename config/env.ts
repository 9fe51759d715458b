/**
 * Every environment variable the service reads, with its validation and default: the schema loadConfig
 * (config/index.ts) parses process.env with. A variable added here is a setting; docker-compose.yml and
 * docs/configuration.md must name it (test/unit/composeEnv.test.ts, test/unit/docPaths.test.ts).
 */
import { z } from 'zod';
/** Good for local use only; production refuses to start with it. */
export const DEV_AUTH_SECRET = 'dev-only-secret-change-me-please';

const intFrom = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

/** Unset means "the consumer's own named default", for settings whose default lives next to its reason. */
const optionalIntFrom = (min = 0) => z.coerce.number().int().min(min).optional();

/**
 * An OpenTelemetry variable: the specification treats an empty value as unset, so docker-compose.yml can pass
 * an operator's unset shell variable through as ''.
 */
const optionalOtel = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => (value === '' ? undefined : value), schema.optional());

const booleanFrom = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true' || value === '1');

export const envSchema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // A request answered in at least this long is logged at warn even where request lines are not (api/logging.ts).
  LOG_SLOW_REQUEST_MS: intFrom(1_000, 1),
  PORT: intFrom(3000, 0),
  HOST: z.string().default('0.0.0.0'),
  REQUEST_BODY_LIMIT_BYTES: intFrom(16 * 1024, 256),

  DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/redpacket'),
  DATABASE_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a lower-case SQL identifier')
    .default('public'),
  DATABASE_POOL_MAX: intFrom(20, 1),
  DATABASE_STATEMENT_TIMEOUT_MS: intFrom(10_000, 100),
  // Postgres ends a session of ours left idle inside a transaction this long (its locks go with it); 0: off.
  DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS: intFrom(60_000, 0),
  // Postgres and Redis are started by the dev tooling when they are local and stopped; false turns that off.
  AUTOSTART_SERVICES: booleanFrom(true),

  // A Redis Cluster: either REDIS_CLUSTER_NODES (host:port,host:port; a few seed nodes are enough) or a
  // REDIS_URL of the form redis+cluster://[user:password@]host:port,host:port (docs/redis-cluster.md).
  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
  REDIS_CLUSTER_NODES: z.string().optional(),
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]{1,64}$/)
    .default('rp:'),

  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('redpacket'),
  TEMPORAL_UI_PORT: intFrom(8233, 1),
  TEMPORAL_CLI: z.string().optional(),
  TEMPORAL_DB_FILE: z.string().default('.data/temporal.sqlite'),

  AUTH_SECRET: z.string().min(16).default(DEV_AUTH_SECRET),
  // Proxy hops in front of the API whose X-Forwarded-For is trusted for the client IP (per-IP rate limits).
  TRUST_PROXY_HOPS: intFrom(0, 0),

  // Rate limits are per second and generous by default: benchmarks drive thousands of requests a second
  // from a handful of users. Operators tighten them per deployment.
  RATE_LIMIT_ENABLED: booleanFrom(true),
  RATE_LIMIT_IP_PER_SECOND: intFrom(50_000, 1),
  RATE_LIMIT_USER_PER_SECOND: intFrom(5_000, 1),
  RATE_LIMIT_PACKET_PER_SECOND: intFrom(20_000, 1),
  RATE_LIMIT_PACKET_DEGRADED_PER_SECOND: intFrom(200, 1),
  RATE_LIMIT_SEND_PER_SECOND: intFrom(5_000, 1),
  // Where the IP and user counters are counted: `redis` (the fleet's, one single-key call each before the
  // gate) or `process` (each API process its own; no Redis call). docs/redis-cluster.md measures both.
  RATE_LIMIT_CLIENT_COUNTERS: z.enum(['redis', 'process']).default('redis'),

  // GET /metrics: a bearer token Prometheus must send (unset: open), and how often a process reads the credit
  // figures from Postgres however often it is scraped (0: at every scrape).
  // Empty counts as unset, so docker-compose.yml can pass `${METRICS_TOKEN:-}` through to the API and Prometheus.
  METRICS_TOKEN: z.preprocess((value) => (value === '' ? undefined : value), z.string().min(16).optional()),
  METRICS_CREDIT_REFRESH_MS: intFrom(15_000, 0),

  // Load shedding (docs/overload.md, config/overload.ts): on by default; budgets are per API process.
  OVERLOAD_SHEDDING: booleanFrom(true),
  OVERLOAD_LAG_TARGET_MS: intFrom(100, 5),
  // 0 turns the open-latency signal off (the test harness does, docs/overload.md).
  OVERLOAD_OPEN_LATENCY_TARGET_MS: intFrom(300, 0).refine(
    (n) => n === 0 || n >= 10,
    '0 (off) or at least 10',
  ),
  OVERLOAD_STORM_IN_FLIGHT: intFrom(2_000, 1),
  OVERLOAD_GRAB_SHARE_PERCENT: intFrom(80, 1).refine((n) => n <= 100, 'at most 100'),
  OVERLOAD_SEND_IN_FLIGHT: intFrom(64, 1),
  OVERLOAD_SEND_LATENCY_TARGET_MS: intFrom(1_000, 10),
  OVERLOAD_MONEY_IN_FLIGHT: intFrom(200, 1),
  OVERLOAD_RETRY_AFTER_SECONDS: intFrom(1, 1),
  // How long a send waits for Temporal to start its workflow and pay before it answers 503 payment_pending.
  SEND_DEADLINE_MS: intFrom(10_000, 100),

  IDEMPOTENCY_TTL_SECONDS: intFrom(86_400, 1),
  IDEMPOTENCY_LOCK_TIMEOUT_MS: intFrom(60_000, 100),

  LIST_UNDER_PRESSURE: booleanFrom(false),
  LIST_MAX_PAGES_UNDER_PRESSURE: intFrom(2, 1),
  LIST_RETRY_AFTER_SECONDS: intFrom(30, 1),

  DEPOSIT_MAX_FEN: intFrom(10_000_000_000, 1),

  PACKET_MAX_TOTAL_FEN: intFrom(20_000, 1),
  PACKET_MAX_COUNT: intFrom(100, 1),
  PACKET_MIN_EXPIRY_SECONDS: intFrom(60, 1),
  PACKET_DEFAULT_EXPIRY_SECONDS: intFrom(86_400, 1),
  PACKET_MAX_EXPIRY_SECONDS: intFrom(7 * 86_400, 1),
  GRAB_HOLD_MS: intFrom(30_000, 100),
  CREDIT_STUCK_AFTER_MS: intFrom(60_000, 100),
  // Credit pumps (docs/credit-pump.md): how many, how big a batch, how often they look without a wake-up.
  CREDIT_SHARDS: intFrom(1, 1),
  CREDIT_BATCH_MAX: intFrom(500, 1),
  CREDIT_POLL_INTERVAL_MS: intFrom(1_000, 10),
  // After a batch that was not full, wait at least this long so one wake-up credits many opens.
  CREDIT_BATCH_GAP_MS: intFrom(150, 0),
  // A pump's activity returns this often so its workflow publishes state and can continue-as-new.
  CREDIT_PUMP_RUN_MS: intFrom(60_000, 1_000),
  // A pump starts a fresh run (continue-as-new) past this many history events, or when Temporal suggests it.
  CREDIT_PUMP_HISTORY_MAX_EVENTS: intFrom(2_000, 20),
  CREDIT_PUMP_ID_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('credit-pump-'),
  // A credit transaction waits this long at most for a wallet or escrow row another transaction holds; the
  // claims behind the row are then set aside, so one held row never stalls a shard. Under the statement timeout.
  CREDIT_LOCK_TIMEOUT_MS: intFrom(1_000, 1),
  // Claims at or above this amount are credited first (seed 003).
  CREDIT_LARGE_MIN_FEN: intFrom(5_000, 1),
  // Claims at or above this amount are credited inside the open transaction; 0 turns it off.
  CREDIT_SYNC_MIN_FEN: intFrom(0, 0),
  // Packets with at least this many shares hear "all credited" at once; smaller ones close at expiry.
  CREDIT_FINISH_SIGNAL_MIN_SHARES: intFrom(21, 1),
  /** Days back the pump's queue reads (docs/day-tables.md); unset: the longest packet life in days + 2. */
  CREDIT_QUEUE_DAYS: optionalIntFrom(1),
  REGION: z
    .string()
    .regex(/^[a-z0-9]{1,8}$/)
    .default('cn1'),
  // Cells (docs/cells.md): every cell's id in home-map order, the other cells' entry URLs, their shared secret.
  CELLS: z.string().optional(),
  CELL_URLS: z.string().optional(),
  CELL_INTERNAL_TOKEN: z.string().optional(),
  CELL_FORWARD_TIMEOUT_MS: intFrom(15_000, 1),
  // Clearing between cells (docs/cells.md): settle pumps, and every cell's database for the pair audit.
  SETTLE_BATCH_MAX: intFrom(200, 1).refine((n) => n <= 1_000, 'at most 1000'),
  SETTLE_REQUEST_TIMEOUT_MS: intFrom(5_000, 1),
  SETTLE_PUMP_ID_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/)
    .default('settle-pump-'),
  CELL_DATABASE_URLS: z.string().optional(),
  CELL_DATABASE_SCHEMAS: z.string().optional(),
  AUDIT_XCREDIT_TRANSIT_MAX_MS: optionalIntFrom(1),

  // Audit thresholds; each default is a named constant in ledger/ (docs/audit.md explains them).
  AUDIT_OPEN_PAST_EXPIRY_GRACE_MS: optionalIntFrom(),
  AUDIT_UNCREDITED_MAX_AGE_MS: optionalIntFrom(),
  AUDIT_LATE_CLAIM_TOLERANCE_MS: optionalIntFrom(),
  AUDIT_WORKFLOWS_MAX: optionalIntFrom(),

  // The reconciler's schedule (docs/reconciliation.md), its limits per run, and the worker's /metrics port.
  RECONCILE_INTERVAL_MS: intFrom(60_000, 500),
  RECONCILE_PUMP_LAG_MS: intFrom(10_000, 100),
  RECONCILE_GATES_PER_RUN: intFrom(1_000, 1),
  // Cold days (docs/day-tables.md): settled days older than this many days leave the live tables; 0: never.
  // At least the pumps' queue window (CREDIT_QUEUE_DAYS), checked in config/index.ts.
  COLD_DAYS_HOT_WINDOW_DAYS: intFrom(90, 0),
  // A tablespace for archived days' tables (created by the operator beforehand); unset: where they are.
  COLD_DAYS_TABLESPACE: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .optional(),
  WORKER_METRICS_PORT: intFrom(9464, 0),

  // OpenTelemetry traces (docs/tracing.md), under the specification's own names: exported over OTLP/HTTP when
  // an endpoint is set, and off, with nothing installed, when neither is.
  OTEL_EXPORTER_OTLP_ENDPOINT: optionalOtel(z.string().url()),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: optionalOtel(z.string().url()),
  OTEL_SERVICE_NAME: optionalOtel(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/)),
  // The share of new traces recorded (parent-based trace-id ratio); 1 records every request.
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  // The Temporal SDK's own metrics (task slots, schedule-to-start latency, sticky cache, activity failures),
  // served by the SDK's runtime on a second port of every worker (docs/operators.md); 0: none.
  TEMPORAL_METRICS_PORT: intFrom(9465, 0),
});

export type Env = z.input<typeof envSchema>;

/** Every variable the config reads; deployment files are checked against it (test/unit/composeEnv.test.ts). */
export const ENV_VARIABLES: readonly string[] = Object.keys(envSchema.shape);
