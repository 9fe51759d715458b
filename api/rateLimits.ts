/**
 * Rate limits on Redis (rate-limiter-flexible), shared by every API replica, with an in-memory insurance
 * limiter per scope that takes over while Redis is unreachable: limits then hold per process instead of per
 * fleet, which is looser by the replica count but never unlimited, and never an outage. Windows are one
 * second; the points per window come from config.
 */
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config';
import type { Logger } from '../config/logger';
import type { RedisDeps } from '../redis';
import type { Metrics } from './metrics';
import { Problem } from './problems';

/**
 * - ip: every request, by client address, before authentication (cheap refusal of floods and token guessing)
 * - user: every authenticated request, by token subject
 * - packet: grab and open, by packet id (one hot packet cannot starve the rest)
 * - packetDegraded: the strict per-packet limit on the Postgres grab fallback while Redis is down
 * - send: POST /v1/packets, one global bucket (key `global`)
 */
export const RATE_LIMIT_SCOPES = ['ip', 'user', 'packet', 'packetDegraded', 'send'] as const;
export type RateLimitScope = (typeof RATE_LIMIT_SCOPES)[number];

export const GLOBAL_KEY = 'global';
const WINDOW_SECONDS = 1;

export interface RateLimits {
  /** Takes one point from `key` in `scope`; throws a 429 problem with Retry-After when none is left. */
  consume(scope: RateLimitScope, key: string): Promise<void>;
}

function pointsFor(config: Config['rateLimit'], scope: RateLimitScope): number {
  switch (scope) {
    case 'ip':
      return config.ipPerSecond;
    case 'user':
      return config.userPerSecond;
    case 'packet':
      return config.packetPerSecond;
    case 'packetDegraded':
      return config.packetDegradedPerSecond;
    case 'send':
      return config.sendPerSecond;
  }
}

export function createRateLimits(deps: {
  config: Pick<Config, 'rateLimit'>;
  redis: RedisDeps;
  metrics: Metrics;
  log: Logger;
}): RateLimits {
  const { config, redis, metrics, log } = deps;
  if (!config.rateLimit.enabled) return { consume: () => Promise.resolve() };

  const limiters = new Map<RateLimitScope, RateLimiterRedis>();
  for (const scope of RATE_LIMIT_SCOPES) {
    const points = pointsFor(config.rateLimit, scope);
    const keyPrefix = redis.keys.rateLimit(scope);
    limiters.set(
      scope,
      new RateLimiterRedis({
        storeClient: redis.client,
        keyPrefix,
        points,
        duration: WINDOW_SECONDS,
        // Without this, a command to a disconnected client waits for a reconnect instead of failing over.
        rejectIfRedisNotReady: true,
        insuranceLimiter: new RateLimiterMemory({ keyPrefix, points, duration: WINDOW_SECONDS }),
      }),
    );
  }

  return {
    async consume(scope, key) {
      const limiter = limiters.get(scope);
      if (!limiter) throw new Error(`unknown rate limit scope ${scope}`);
      try {
        await limiter.consume(key);
      } catch (err) {
        if (err instanceof RateLimiterRes) {
          metrics.rateLimited.inc({ scope });
          const retryAfterSeconds = Math.max(1, Math.ceil(err.msBeforeNext / 1000));
          throw new Problem(
            429,
            'rate_limited',
            'Too many requests',
            `Slow down: the ${scope} limit is reached.`,
            {
              scope,
              retryAfterSeconds,
            },
          ).withHeader('Retry-After', String(retryAfterSeconds));
        }
        // Both stores failing is a bug in the limiter, not the client's problem: let the request through.
        log.warn({ err, scope }, 'rate limiter failed; request allowed');
      }
    },
  };
}
