/**
 * Rate limits, counted in Redis so every API replica shares them, with an in-memory limiter per scope that
 * takes over while Redis is unreachable: limits then hold per process instead of per fleet, which is looser
 * by the replica count but never unlimited, and never an outage. Windows are one second; the points per
 * window come from config, and the counting rule is redis/scripts/includes/limits.lua.
 *
 * A request's counters (IP, user, and its route's own) are in different Redis Cluster slots, so each is one
 * single-key call (redis/scripts/consumeLimit.lua), in order, the first refusal ending the count. The grab
 * and open routes hand them to the gate (`forGate`): on a Cluster the IP and user counters are counted first,
 * the packet's (in the packet's slot) by the gate script itself, so a refused request never reaches the gate;
 * on one Redis, which has no slots, the gate script counts all three, so a grab stays one round trip.
 * With RATE_LIMIT_CLIENT_COUNTERS=process the IP and user counters are each process's own instead (no
 * Redis call; looser by the number of API processes): docs/redis-cluster.md has the measured trade-off.
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
  /** Every check in order, one call each, stopping at the first refusal (a 429 problem). */
  consumeAll(checks: readonly LimitCheck[]): Promise<void>;
  /** The same checks for a gate call (redis/scripts/grabShare.lua, checkHold.lua count the packet's). */
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
  config: Pick<Config, 'rateLimit' | 'redis'>;
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

  /**
   * Counts `checks` in Redis, one single-key call each and in order (a request's counters are in different
   * Redis Cluster slots), stopping at the first refusal, which is returned; Redis failures reject.
   */
  async function countInRedis(checks: readonly LimitCheck[]): Promise<Problem | undefined> {
    for (const check of checks) {
      const [refused, waitMs] = await redis.scripts.consumeLimit(
        redis.keys.limitCounter(check.scope, check.key),
        WINDOW_MS,
        points(check),
      );
      if (refused > 0) return refusal(check, waitMs);
    }
    return undefined;
  }

  /** RATE_LIMIT_CLIENT_COUNTERS=process: the IP and user counters are this process's own. */
  const inProcess = (check: LimitCheck) =>
    config.rateLimit.clientCounters === 'process' && (check.scope === 'ip' || check.scope === 'user');

  /** consumeLocally, answering its refusal instead of throwing it. */
  async function countLocally(checks: readonly LimitCheck[]): Promise<Problem | undefined> {
    try {
      await consumeLocally(checks);
      return undefined;
    } catch (err) {
      if (err instanceof Problem) return err;
      throw err;
    }
  }

  function forGate(checks: readonly LimitCheck[]): GateLimits {
    const packet = checks.find((check) => check.scope === 'packet');
    const client = checks.filter((check) => check !== packet);
    // One Redis: the client's counters ride in the gate call, before the packet's, as the script counts them
    // in order. Two more calls per grab cost the API a third more CPU per grab in the storm's shape
    // (docs/redis-cluster.md); only a Cluster, whose slots they would span, needs them.
    if (!config.redis.cluster && client.length > 0 && !client.some(inProcess)) {
      const counted = [...client, ...(packet ? [packet] : [])];
      return {
        clientKeys: client.map((check) => redis.keys.limitCounter(check.scope, check.key)),
        argv: [WINDOW_MS, ...counted.map(points)],
        refusal: (waitMs, index) => refusal(counted[index - 1], waitMs),
      };
    }
    // In process, a gate call that then fails counts them once more in the fallback (admission.ts): stricter,
    // never looser, and only while Redis fails.
    const countClient = client.every(inProcess) ? countLocally : countInRedis;
    return {
      ...(client.length > 0 ? { countFirst: () => countClient(client) } : {}),
      argv: packet ? [WINDOW_MS, points(packet)] : [],
      refusal: (waitMs) => refusal(packet, waitMs),
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

  async function consumeAll(all: readonly LimitCheck[]): Promise<void> {
    // The IP and user counters come first in every request's order, so counting those kept in process
    // first keeps the order in which a refusal stops the count.
    const kept = all.filter(inProcess);
    if (kept.length > 0) await consumeLocally(kept);
    const checks = kept.length > 0 ? all.filter((check) => !inProcess(check)) : all;
    if (checks.length === 0) return;
    // ioredis reports 'ready' only while connected; commands would fail at once otherwise.
    if (redis.client.status !== 'ready') return consumeLocally(checks);
    let refused: Problem | undefined;
    try {
      refused = await countInRedis(checks);
    } catch {
      return consumeLocally(checks);
    }
    if (refused) throw refused;
  }

  return {
    consume: (scope, key) => consumeAll([{ scope, key }]),
    consumeAll,
    forGate,
    consumeLocally,
  };
}
