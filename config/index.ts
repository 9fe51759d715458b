/**
 * The one place that reads process.env. Everything else receives a validated `Config`, so a typo in an
 * environment variable fails at start with a message naming it, not at the first request that needs it.
 */
import { z } from 'zod';

/** Good for local use only; production refuses to start with it. */
const DEV_AUTH_SECRET = 'dev-only-secret-change-me-please';

const intFrom = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback);

/** Unset means "the consumer's own named default", for settings whose default lives next to its reason. */
const optionalIntFrom = (min = 0) => z.coerce.number().int().min(min).optional();

const booleanFrom = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0'])
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true' || value === '1');

const envSchema = z.object({
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

  REDIS_URL: z.string().default('redis://127.0.0.1:6379'),
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

  // GET /metrics: a bearer token Prometheus must send (unset: open), and how often a process reads the credit
  // figures from Postgres however often it is scraped (0: at every scrape).
  METRICS_TOKEN: z.string().min(16).optional(),
  METRICS_CREDIT_REFRESH_MS: intFrom(15_000, 0),

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
  REGION: z
    .string()
    .regex(/^[a-z0-9]{1,8}$/)
    .default('cn1'),

  // Audit thresholds; each default is a named constant in ledger/ (docs/audit.md explains them).
  AUDIT_OPEN_PAST_EXPIRY_GRACE_MS: optionalIntFrom(),
  AUDIT_UNCREDITED_MAX_AGE_MS: optionalIntFrom(),
  AUDIT_LATE_CLAIM_TOLERANCE_MS: optionalIntFrom(),
  AUDIT_WORKFLOWS_MAX: optionalIntFrom(),

  // The reconciler's schedule (docs/reconciliation.md), its limits per run, and the worker's /metrics port.
  RECONCILE_INTERVAL_MS: intFrom(60_000, 500),
  RECONCILE_PUMP_LAG_MS: intFrom(10_000, 100),
  RECONCILE_GATES_PER_RUN: intFrom(1_000, 1),
  WORKER_METRICS_PORT: intFrom(9464, 0),
});

export type Env = z.input<typeof envSchema>;

/** Every variable the config reads; deployment files are checked against it (test/unit/composeEnv.test.ts). */
export const ENV_VARIABLES: readonly string[] = Object.keys(envSchema.shape);

export interface Config {
  nodeEnv: 'development' | 'test' | 'production';
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  logSlowRequestMs: number;
  http: { port: number; host: string; bodyLimitBytes: number; trustProxyHops: number };
  database: {
    url: string;
    schema: string;
    poolMax: number;
    statementTimeoutMs: number;
    /** 0: off. */
    idleInTransactionTimeoutMs: number;
  };
  redis: { url: string; keyPrefix: string };
  autostartServices: boolean;
  temporal: {
    address: string;
    namespace: string;
    taskQueue: string;
    uiPort: number;
    cliPath: string | undefined;
    dbFile: string;
  };
  auth: { secret: string };
  /** Requests per second per key; `packetDegraded` guards the Postgres grab fallback while Redis is down. */
  rateLimit: {
    enabled: boolean;
    ipPerSecond: number;
    userPerSecond: number;
    packetPerSecond: number;
    packetDegradedPerSecond: number;
    sendPerSecond: number;
  };
  idempotency: { ttlSeconds: number; lockTimeoutMs: number };
  /** `token` undefined: /metrics is open. */
  metrics: { token: string | undefined; creditRefreshMs: number };
  lists: { underPressure: boolean; maxPagesUnderPressure: number; retryAfterSeconds: number };
  ledger: { depositMaxFen: number };
  packet: {
    maxTotalFen: number;
    maxCount: number;
    minExpirySeconds: number;
    defaultExpirySeconds: number;
    maxExpirySeconds: number;
    holdMs: number;
    creditStuckAfterMs: number;
    region: string;
  };
  /** Undefined fields keep the audit's defaults (ledger/audit.ts DEFAULT_AUDIT_THRESHOLDS). */
  audit: {
    openPastExpiryGraceMs: number | undefined;
    uncreditedMaxAgeMs: number | undefined;
    lateClaimToleranceMs: number | undefined;
    workflowsMax: number | undefined;
  };
  credit: CreditSettings;
  reconcile: ReconcileSettings;
  /** 0: the worker serves no /metrics. */
  workerMetricsPort: number;
}

/** What the reconciliation activity (activities/reconcile.ts) reads besides the credit settings. */
export interface ReconcileSettings {
  intervalMs: number;
  pumpLagMs: number;
  gatesPerRun: number;
  audit: Config['audit'];
}

/** What the credit pumps (activities/credit.ts) and the open transaction's synchronous credit read. */
export interface CreditSettings {
  shards: number;
  batchMax: number;
  pollIntervalMs: number;
  batchGapMs: number;
  pumpRunMs: number;
  pumpIdPrefix: string;
  pumpHistoryMaxEvents: number;
  largeMinFen: number;
  /** Longest wait of a credit transaction for a locked account row (Postgres lock_timeout). */
  lockTimeoutMs: number;
  /** 0: off. */
  syncMinFen: number;
  stuckAfterMs: number;
  finishSignalMinShares: number;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Validates the environment (process.env by default) with `overrides` applied on top, so tests and scripts
 * can vary one setting without touching the process.
 */
export function loadConfig(overrides: Partial<Record<keyof Env, string | undefined>> = {}): Config {
  const parsed = envSchema.safeParse({ ...process.env, ...overrides });
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((issue) => `${issue.path.join('.')}: ${issue.message}`)
      .join('; ');
    throw new ConfigError(`invalid configuration: ${problems}`);
  }
  const env = parsed.data;
  if (env.NODE_ENV === 'production' && env.AUTH_SECRET === DEV_AUTH_SECRET) {
    throw new ConfigError('invalid configuration: AUTH_SECRET must be set in production');
  }
  // A lock wait as long as the statement timeout fails as a timeout (a server error), not as a held row.
  if (env.CREDIT_LOCK_TIMEOUT_MS >= env.DATABASE_STATEMENT_TIMEOUT_MS) {
    throw new ConfigError(
      'invalid configuration: CREDIT_LOCK_TIMEOUT_MS must be under DATABASE_STATEMENT_TIMEOUT_MS',
    );
  }
  const audit = {
    openPastExpiryGraceMs: env.AUDIT_OPEN_PAST_EXPIRY_GRACE_MS,
    uncreditedMaxAgeMs: env.AUDIT_UNCREDITED_MAX_AGE_MS,
    lateClaimToleranceMs: env.AUDIT_LATE_CLAIM_TOLERANCE_MS,
    workflowsMax: env.AUDIT_WORKFLOWS_MAX,
  };
  return {
    nodeEnv: env.NODE_ENV,
    logLevel: env.LOG_LEVEL,
    logSlowRequestMs: env.LOG_SLOW_REQUEST_MS,
    http: {
      port: env.PORT,
      host: env.HOST,
      bodyLimitBytes: env.REQUEST_BODY_LIMIT_BYTES,
      trustProxyHops: env.TRUST_PROXY_HOPS,
    },
    database: {
      url: env.DATABASE_URL,
      schema: env.DATABASE_SCHEMA,
      poolMax: env.DATABASE_POOL_MAX,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
      idleInTransactionTimeoutMs: env.DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    },
    redis: { url: env.REDIS_URL, keyPrefix: env.REDIS_KEY_PREFIX },
    autostartServices: env.AUTOSTART_SERVICES,
    temporal: {
      address: env.TEMPORAL_ADDRESS,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      uiPort: env.TEMPORAL_UI_PORT,
      cliPath: env.TEMPORAL_CLI,
      dbFile: env.TEMPORAL_DB_FILE,
    },
    auth: { secret: env.AUTH_SECRET },
    rateLimit: {
      enabled: env.RATE_LIMIT_ENABLED,
      ipPerSecond: env.RATE_LIMIT_IP_PER_SECOND,
      userPerSecond: env.RATE_LIMIT_USER_PER_SECOND,
      packetPerSecond: env.RATE_LIMIT_PACKET_PER_SECOND,
      packetDegradedPerSecond: env.RATE_LIMIT_PACKET_DEGRADED_PER_SECOND,
      sendPerSecond: env.RATE_LIMIT_SEND_PER_SECOND,
    },
    idempotency: {
      ttlSeconds: env.IDEMPOTENCY_TTL_SECONDS,
      lockTimeoutMs: env.IDEMPOTENCY_LOCK_TIMEOUT_MS,
    },
    metrics: { token: env.METRICS_TOKEN, creditRefreshMs: env.METRICS_CREDIT_REFRESH_MS },
    lists: {
      underPressure: env.LIST_UNDER_PRESSURE,
      maxPagesUnderPressure: env.LIST_MAX_PAGES_UNDER_PRESSURE,
      retryAfterSeconds: env.LIST_RETRY_AFTER_SECONDS,
    },
    ledger: { depositMaxFen: env.DEPOSIT_MAX_FEN },
    packet: {
      maxTotalFen: env.PACKET_MAX_TOTAL_FEN,
      maxCount: env.PACKET_MAX_COUNT,
      minExpirySeconds: env.PACKET_MIN_EXPIRY_SECONDS,
      defaultExpirySeconds: env.PACKET_DEFAULT_EXPIRY_SECONDS,
      maxExpirySeconds: env.PACKET_MAX_EXPIRY_SECONDS,
      holdMs: env.GRAB_HOLD_MS,
      creditStuckAfterMs: env.CREDIT_STUCK_AFTER_MS,
      region: env.REGION,
    },
    audit,
    credit: {
      shards: env.CREDIT_SHARDS,
      batchMax: env.CREDIT_BATCH_MAX,
      pollIntervalMs: env.CREDIT_POLL_INTERVAL_MS,
      batchGapMs: env.CREDIT_BATCH_GAP_MS,
      pumpRunMs: env.CREDIT_PUMP_RUN_MS,
      pumpIdPrefix: env.CREDIT_PUMP_ID_PREFIX,
      pumpHistoryMaxEvents: env.CREDIT_PUMP_HISTORY_MAX_EVENTS,
      largeMinFen: env.CREDIT_LARGE_MIN_FEN,
      lockTimeoutMs: env.CREDIT_LOCK_TIMEOUT_MS,
      syncMinFen: env.CREDIT_SYNC_MIN_FEN,
      stuckAfterMs: env.CREDIT_STUCK_AFTER_MS,
      finishSignalMinShares: env.CREDIT_FINISH_SIGNAL_MIN_SHARES,
    },
    reconcile: {
      intervalMs: env.RECONCILE_INTERVAL_MS,
      pumpLagMs: env.RECONCILE_PUMP_LAG_MS,
      gatesPerRun: env.RECONCILE_GATES_PER_RUN,
      audit,
    },
    workerMetricsPort: env.WORKER_METRICS_PORT,
  };
}
