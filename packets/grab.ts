/**
 * Grab (抢): one Lua call decides, so most of the crowd is turned away by Redis and never reaches Postgres
 * (seed 003). When the gate is missing (Redis lost it) it is re-armed from Postgres; when Redis is down the
 * grab is answered from Postgres instead (the caller applies the strict degraded rate limit).
 */
import type { Db } from '../db';
import { ErrorCode, refusal, type DomainError } from '../domain/errors';
import type { RedisDeps } from '../redis';
import { refusalOf, refuse, type ShareOffer } from './access';
import { armGateFromPostgres, GATE_EXPIRY_GRACE_MS, NO_LIMITS, RATE_LIMITED, type GateLimits } from './gate';

/** Status codes of redis/scripts/grabShare.lua. */
export const GrabStatus = {
  Granted: 1,
  AlreadyHolding: 2,
  AlreadyClaimed: -1,
  Exhausted: -2,
  NotArmed: -3,
  Expired: -4,
  NotAllowed: -5,
  RateLimited: RATE_LIMITED,
} as const;

export interface Hold {
  packetId: string;
  holdExpiresAt: string;
  /** Shares not yet held or claimed, as the gate saw them. */
  remainingCount: number;
  /** True when Redis was unreachable and Postgres answered (no share is reserved). */
  degraded: boolean;
}

/** The one place script statuses become typed errors. */
export function grabRefusal(status: number): DomainError | undefined {
  switch (status) {
    case GrabStatus.AlreadyHolding:
      return refusal(ErrorCode.AlreadyHolding, 'you already hold a share of this packet; open it');
    case GrabStatus.AlreadyClaimed:
      return refuse.claimed();
    case GrabStatus.Exhausted:
      return refuse.exhausted();
    case GrabStatus.Expired:
      return refuse.expired();
    case GrabStatus.NotAllowed:
    case GrabStatus.NotArmed:
      return refuse.notFound();
    default:
      return undefined;
  }
}

export interface GrabDeps {
  db: Db;
  redis: RedisDeps;
  holdMs: number;
}

export class RedisUnavailable extends Error {
  override readonly name = 'RedisUnavailable';
}

/** Runs one gate script, turning any Redis failure into RedisUnavailable so callers can degrade. */
export async function viaGate<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw new RedisUnavailable('the grab gate is unreachable', { cause: err });
  }
}

async function grabInRedis(
  deps: GrabDeps,
  packetId: string,
  userId: string,
  limits: GateLimits,
): Promise<[number, number, number]> {
  const { keys, scripts } = deps.redis;
  const answer = await viaGate(() =>
    scripts.grabShare(
      4 + limits.keys.length,
      keys.gate(packetId),
      keys.holders(packetId),
      keys.claimed(packetId),
      keys.audience(packetId),
      ...limits.keys,
      userId,
      deps.holdMs,
      GATE_EXPIRY_GRACE_MS,
      ...limits.argv,
    ),
  );
  if (answer[0] === RATE_LIMITED) throw limits.refusal(answer[2] - 1, answer[1]);
  return answer;
}

/** Re-arms a gate that Redis lost; false when the packet is unknown or no longer open. */
export function rearm(deps: { db: Db; redis: RedisDeps }, packetId: string): Promise<boolean> {
  return viaGate(() => armGateFromPostgres(deps.db, deps.redis, packetId));
}

/**
 * The grab: one script call checks the request's rate limits and then the gate. A gate that Redis lost is
 * re-armed from Postgres and asked again (without counting the request twice).
 */
export async function grab(
  deps: GrabDeps,
  packetId: string,
  userId: string,
  limits: GateLimits = NO_LIMITS,
): Promise<Hold> {
  let [status, holdExpiresAtMs, remaining] = await grabInRedis(deps, packetId, userId, limits);
  if (status === GrabStatus.NotArmed && (await rearm(deps, packetId))) {
    [status, holdExpiresAtMs, remaining] = await grabInRedis(deps, packetId, userId, NO_LIMITS);
  }
  if (status === GrabStatus.NotArmed) {
    // Not armed and not armable: unknown, or no longer open. Postgres says which, with the same answer
    // for "unknown" and "not yours".
    return grabFromPostgres(deps, packetId, userId);
  }
  const refused = grabRefusal(status);
  if (refused) throw refused;
  return {
    packetId,
    holdExpiresAt: new Date(holdExpiresAtMs).toISOString(),
    remainingCount: remaining,
    degraded: false,
  };
}

/**
 * Degraded grab: the same checks against Postgres (its eligibility rule and its clock), without reserving a
 * share (the open transaction decides).
 */
export async function grabFromPostgres(deps: GrabDeps, packetId: string, userId: string): Promise<Hold> {
  const { rows } = await deps.db.query<ShareOffer>(
    `SELECT status, remaining_count AS "remainingCount",
       packet_claimable(recipient_id, audience, sender_id, $2) AS claimable,
       expires_at <= clock_timestamp() AS expired,
       EXISTS (SELECT 1 FROM claims WHERE packet_id = $1 AND user_id = $2) AS claimed
     FROM packets WHERE id = $1`,
    [packetId, userId],
  );
  const offer = rows[0];
  if (!offer) throw refuse.notFound();
  const refused = refusalOf(offer);
  if (refused) throw refused;
  return {
    packetId,
    holdExpiresAt: new Date(Date.now() + deps.holdMs).toISOString(),
    remainingCount: offer.remainingCount,
    degraded: true,
  };
}
