/**
 * The one place that reads process.env. Everything else receives a validated `Config`, so a typo in an
 * environment variable fails at start with a message naming it, not at the first request that needs it.
 */
import { parseCells, type CellSettings } from './cells';
import { parseClearing, type ClearingSettings } from './clearing';
import { DEV_AUTH_SECRET, envSchema, type Env } from './env';
import { parseOverload, type OverloadSettings } from './overload';
import { redisClusterSeeds, type RedisClusterSeeds } from './redisCluster';
import { parseTracing, type TracingSettings } from './tracing';

export { ENV_VARIABLES, type Env } from './env';

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
  /** `cluster` set: a Redis Cluster reached through these seed nodes (config/redisCluster.ts). */
  redis: { url: string; keyPrefix: string; cluster?: RedisClusterSeeds | undefined };
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
    /** Where the IP and user counters are counted (api/rateLimits.ts). */
    clientCounters: 'redis' | 'process';
  };
  idempotency: { ttlSeconds: number; lockTimeoutMs: number };
  /** `token` undefined: /metrics is open. */
  metrics: { token: string | undefined; creditRefreshMs: number };
  lists: { underPressure: boolean; maxPagesUnderPressure: number; retryAfterSeconds: number };
  /** Load shedding in the API (api/overload/, docs/overload.md). */
  overload: OverloadSettings;
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
  cells: CellSettings;
  clearing: ClearingSettings;
  /** 0: the worker serves no /metrics. */
  workerMetricsPort: number;
  /** Undefined: tracing is off (no OTLP endpoint configured) and nothing of it is installed. */
  tracing: TracingSettings | undefined;
  /** 0: the worker's Temporal runtime exports no SDK metrics. */
  temporalMetricsPort: number;
}

/** What the reconciliation activity (activities/reconcile.ts) reads besides the credit settings. */
export interface ReconcileSettings {
  intervalMs: number;
  pumpLagMs: number;
  gatesPerRun: number;
  audit: Config['audit'];
  /** The cold-day job the runs carry (ledger/coldDays.ts). */
  coldDays: ColdDaySettings;
}

/** The cold-day job (ledger/coldDays.ts, docs/day-tables.md "Cold days"). */
export interface ColdDaySettings {
  /** Days kept in the live tables, today not counted; a settled day older than that is archived. 0: never. */
  hotWindowDays: number;
  /** The tablespace archived tables move to, or undefined to leave them where they are. */
  tablespace: string | undefined;
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
  /**
   * How many days back the pump's queue looks for uncredited claims (docs/day-tables.md): the longest
   * packet life plus two days, so every claim a live or just-settled packet can owe is within reach.
   */
  queueDays?: number;
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
  const queueDays = env.CREDIT_QUEUE_DAYS ?? Math.ceil(env.PACKET_MAX_EXPIRY_SECONDS / 86_400) + 2;
  // A day the pumps may still credit must stay live; the job would only report it unsettled, every run.
  if (env.COLD_DAYS_HOT_WINDOW_DAYS > 0 && env.COLD_DAYS_HOT_WINDOW_DAYS < queueDays) {
    throw new ConfigError(
      `invalid configuration: COLD_DAYS_HOT_WINDOW_DAYS must be 0 or at least the queue window (${queueDays} days)`,
    );
  }
  const cells = parseCells(env);
  if ('problems' in cells) throw new ConfigError(`invalid configuration: ${cells.problems.join('; ')}`);
  const clearing = parseClearing(env, cells.all);
  if ('problems' in clearing) throw new ConfigError(`invalid configuration: ${clearing.problems.join('; ')}`);
  let redisCluster: RedisClusterSeeds | undefined;
  try {
    redisCluster = redisClusterSeeds(env.REDIS_URL, env.REDIS_CLUSTER_NODES);
  } catch (err) {
    throw new ConfigError(`invalid configuration: ${(err as Error).message}`);
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
    redis: {
      url: env.REDIS_URL,
      keyPrefix: env.REDIS_KEY_PREFIX,
      cluster: redisCluster,
    },
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
      clientCounters: env.RATE_LIMIT_CLIENT_COUNTERS,
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
    overload: parseOverload(env),
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
      queueDays,
    },
    reconcile: {
      intervalMs: env.RECONCILE_INTERVAL_MS,
      pumpLagMs: env.RECONCILE_PUMP_LAG_MS,
      gatesPerRun: env.RECONCILE_GATES_PER_RUN,
      audit,
      coldDays: { hotWindowDays: env.COLD_DAYS_HOT_WINDOW_DAYS, tablespace: env.COLD_DAYS_TABLESPACE },
    },
    workerMetricsPort: env.WORKER_METRICS_PORT,
    tracing: parseTracing(env),
    temporalMetricsPort: env.TEMPORAL_METRICS_PORT,
    cells,
    clearing,
  };
}

export type { CellSettings, ClearingSettings, OverloadSettings, TracingSettings };
