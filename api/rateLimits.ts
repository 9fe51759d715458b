/**
 * Rate limits, counted in Redis so every API replica shares them, with an in-memory limiter per scope that
 * takes over while Redis is unreachable: limits then hold per process instead of per fleet, which is looser
 * by the replica count but never unlimited, and never an outage. Windows are one second; the points per
 * window come from config, and the counting rule is redis/scripts/includes/limits.lua.
 *
 * A request's limits (IP, user, and its route's own) cost one Redis round trip together: `consume` runs
 * them as one script, and the grab and open routes hand them to their gate script instead (`forGate`), so a
 * grab is a single round trip and a refused request never reaches the gate.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { Config } from '../config';
import type { Logger } from '../config/logger';
import { NO_LIMITS, type GateLimits } from '../packets/gate/gate';
import type { RedisDeps } from '../redis';
import type { Metrics } from './metrics';
import { Problem } from './problems';

/**
 * - ip: every request, by client address (a request whose token fails pays it before its 401)
 * - user: every authenticated request, by token subject
 * - packet: grab and open, by packet id (one hot packet cannot starve the rest)
 * - packetDegraded: the strict per-packet limit on the Postgres grab fallback while Redis is down
 * - send: POST /v1/packets, one global bucket (key `global`)
 */
export const RATE_LIMIT_SCOPES = ['ip', 'user', 'packet', 'packetDegraded', 'send'] as const;
export type RateLimitScope = (typeof RATE_LIMIT_SCOPES)[number];

export const GLOBAL_KEY = 'global';
const WINDOW_SECONDS = 1;
const WINDOW_MS = WINDOW_SECONDS * 1000;

export interface LimitCheck {
  scope: RateLimitScope;
  key: string;
}

export interface RateLimits {
  /** Takes one point from `key` in `scope`; throws a 429 problem with Retry-After when none is left. */
  consume(scope: RateLimitScope, key: string): Promise<void>;
  /** Every check in one round trip, in order, stopping at the first refusal (a 429 problem). */
  consumeAll(checks: readonly LimitCheck[]): Promise<void>;
  /** The same checks for a gate script to run first (redis/scripts/grabShare.lua, checkHold.lua). */
  forGate(checks: readonly LimitCheck[]): GateLimits;
  /** The same checks in this process alone: Redis is down, or the gate script could not run. */
  consumeLocally(checks: readonly LimitCheck[]): Promise<void>;
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

const UNLIMITED: RateLimits = {
  consume: () => Promise.resolve(),
  consumeAll: () => Promise.resolve(),
  forGate: () => NO_LIMITS,
  consumeLocally: () => Promise.resolve(),
};

export function createRateLimits(deps: {
  config: Pick<Config, 'rateLimit'>;
  redis: RedisDeps;
  metrics: Metrics;
  log: Logger;
}): RateLimits {
  const { config, redis, metrics, log } = deps;
  if (!config.rateLimit.enabled) return UNLIMITED;
  const points = (check: LimitCheck) => pointsFor(config.rateLimit, check.scope);

  const local = new Map<RateLimitScope, RateLimiterMemory>();
  for (const scope of RATE_LIMIT_SCOPES) {
    const keyPrefix = redis.keys.rateLimit(scope);
    local.set(
      scope,
      new RateLimiterMemory({
        keyPrefix,
        points: pointsFor(config.rateLimit, scope),
        duration: WINDOW_SECONDS,
      }),
    );
  }

  /** The 429 for a refused check; no stack (Problem), since a flood makes thousands a second. */
  function refusal(check: LimitCheck | undefined, waitMs: number): Problem {
    const scope = check?.scope ?? 'ip';
    metrics.rateLimited.inc({ scope });
    const retryAfterSeconds = Math.max(1, Math.ceil(waitMs / 1000));
    return new Problem(
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

  function forGate(checks: readonly LimitCheck[]): GateLimits {
    return {
      keys: checks.map((check) => redis.keys.limitCounter(check.scope, check.key)),
      argv: [WINDOW_MS, ...checks.map(points)],
      refusal: (index, waitMs) => refusal(checks[index], waitMs),
    };
  }

  async function consumeLocally(checks: readonly LimitCheck[]): Promise<void> {
    for (const check of checks) {
      try {
        await local.get(check.scope)?.consume(check.key);
      } catch (err) {
        if (err instanceof RateLimiterRes) throw refusal(check, err.msBeforeNext);
        // A failing limiter is a bug in the limiter, not the client's problem: let the request through.
        log.warn({ err, scope: check.scope }, 'rate limiter failed; request allowed');
      }
    }
  }

  async function consumeAll(checks: readonly LimitCheck[]): Promise<void> {
    if (checks.length === 0) return;
    // ioredis reports 'ready' only while connected; commands would fail at once otherwise.
    if (redis.client.status !== 'ready') return consumeLocally(checks);
    const gate = forGate(checks);
    let answer: [number, number];
    try {
      answer = await redis.scripts.consumeLimits(gate.keys.length, ...gate.keys, ...gate.argv);
    } catch {
      return consumeLocally(checks);
    }
    const [refused, waitMs] = answer;
    if (refused > 0) throw gate.refusal(refused - 1, waitMs);
  }

  return {
    consume: (scope, key) => consumeAll([{ scope, key }]),
    consumeAll,
    forGate,
    consumeLocally,
  };
}
