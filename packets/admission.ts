/**
 * Degraded mode for the gated acts (grab, open), decided by the use case itself: the Redis path, whose gate
 * script checks the request's rate limits before the gate, unless Redis is known to be down or fails now;
 * then the same limits are checked in this process, and the Postgres path pays the strict per-packet limit
 * (`packetDegraded`) first. Postgres stays the authority either way, so nothing can be over-claimed.
 */
import type { GateLimits } from './gate/gate';
import { RedisUnavailable } from './gate/scripts';

/**
 * What a gated act needs of the API's rate limits when the gate cannot check them (api/rateLimits.ts
 * `RateLimits` is one), generic in the request's limits so the use case never looks inside them.
 */
export interface RequestLimits<L> {
  /** The request's limits in this process alone: Redis is down, or the gate script could not run. */
  consumeLocally(limits: L): Promise<void>;
  /** The strict per-packet limit of the Postgres fallback. */
  consume(scope: 'packetDegraded', packetId: string): Promise<void>;
}

export interface Admission<L> {
  /** True while Redis is unreachable: the gate is skipped without trying it. */
  redisDown: () => boolean;
  rateLimits: RequestLimits<L>;
}

/**
 * The request's rate limits in both forms: `gate` for the gate script (built by the API's limits step, so the
 * Redis path never calls back into the API), `checks` for this process when the script cannot run.
 */
export interface GatedLimits<L> {
  gate: GateLimits;
  checks: L;
}

/** Runs `viaRedis` (its gate script checks the limits), or, when Redis is down or fails now, `viaPostgres`. */
export async function viaGateOrPostgres<L, T>(
  admission: Admission<L>,
  packetId: string,
  limits: GatedLimits<L>,
  viaRedis: (gateLimits: GateLimits) => Promise<T>,
  viaPostgres: () => Promise<T>,
): Promise<T> {
  if (!admission.redisDown()) {
    try {
      return await viaRedis(limits.gate);
    } catch (err) {
      if (!(err instanceof RedisUnavailable)) throw err;
    }
  }
  await admission.rateLimits.consumeLocally(limits.checks);
  await admission.rateLimits.consume('packetDegraded', packetId);
  return viaPostgres();
}
