/** The environment of every child the bench starts, derived from one validated config. */
import type { Config } from '../config';

/** Far above what the bench sends, so rate limits run (a Redis call each) but never refuse. */
const GENEROUS_RATE = '10000000';

/** The whole environment of a child: every setting that matters is named, nothing is left to chance. */
export function childEnv(config: Config, port: number): Record<string, string> {
  return {
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    HOST: '127.0.0.1',
    PORT: String(port),
    DATABASE_URL: config.database.url,
    DATABASE_SCHEMA: config.database.schema,
    REDIS_URL: config.redis.url,
    REDIS_KEY_PREFIX: config.redis.keyPrefix,
    AUTOSTART_SERVICES: 'false',
    TEMPORAL_ADDRESS: config.temporal.address,
    TEMPORAL_NAMESPACE: config.temporal.namespace,
    TEMPORAL_TASK_QUEUE: config.temporal.taskQueue,
    AUTH_SECRET: config.auth.secret,
    RATE_LIMIT_ENABLED: 'true',
    RATE_LIMIT_IP_PER_SECOND: GENEROUS_RATE,
    RATE_LIMIT_USER_PER_SECOND: GENEROUS_RATE,
    RATE_LIMIT_PACKET_PER_SECOND: GENEROUS_RATE,
    RATE_LIMIT_SEND_PER_SECOND: GENEROUS_RATE,
    PACKET_MIN_EXPIRY_SECONDS: '1',
  };
}
