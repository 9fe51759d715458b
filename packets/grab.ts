/**
 * Grab (抢): one Lua call decides, so most of the crowd is turned away by Redis and never reaches Postgres
 * (seed 003). When the gate is missing (Redis lost it) it is re-armed from Postgres; when Redis is down the
 * grab is answered from Postgres instead (the caller applies the strict degraded rate limit).
 */
import type { Db } from '../db';
import { DomainError, ErrorCode } from '../domain/errors';
import type { RedisDeps } from '../redis';
import { refusalOf, type ShareOffer } from './access';
import { armGateFromPostgres, GATE_EXPIRY_GRACE_MS } from './gate';

/** Status codes of redis/scripts/grabShare.lua. */
export const GrabStatus = {
  Granted: 1,
  AlreadyHolding: 2,
  AlreadyClaimed: -1,
  Exhausted: -2,
  NotArmed: -3,
  Expired: -4,
  NotAllowed: -5,
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
      return new DomainError(ErrorCode.AlreadyHolding, 'you already hold a share of this packet; open it');
    case GrabStatus.AlreadyClaimed:
      return new DomainError(ErrorCode.AlreadyClaimed, 'you have already opened this packet');
    case GrabStatus.Exhausted:
      return new DomainError(ErrorCode.PacketExhausted, 'every share has been taken');
    case GrabStatus.Expired:
      return new DomainError(ErrorCode.PacketExpired, 'the packet has expired');
    case GrabStatus.NotAllowed:
    case GrabStatus.NotArmed:
      return new DomainError(ErrorCode.PacketNotFound, 'no such packet');
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

function grabInRedis(deps: GrabDeps, packetId: string, userId: string): Promise<[number, number, number]> {
  const { keys, scripts } = deps.redis;
  return viaGate(() =>
    scripts.grabShare(
      keys.gate(packetId),
      keys.holders(packetId),
      keys.claimed(packetId),
      keys.audience(packetId),
      userId,
      deps.holdMs,
      GATE_EXPIRY_GRACE_MS,
    ),
  );
}

/** Re-arms a gate that Redis lost; false when the packet is unknown or no longer open. */
export function rearm(deps: { db: Db; redis: RedisDeps }, packetId: string): Promise<boolean> {
  return viaGate(() => armGateFromPostgres(deps.db, deps.redis, packetId));
}

export async function grab(deps: GrabDeps, packetId: string, userId: string): Promise<Hold> {
  let [status, holdExpiresAtMs, remaining] = await grabInRedis(deps, packetId, userId);
  if (status === GrabStatus.NotArmed && (await rearm(deps, packetId))) {
    [status, holdExpiresAtMs, remaining] = await grabInRedis(deps, packetId, userId);
  }
  if (status === GrabStatus.NotArmed) {
    // Not armed and not armable: unknown, or no longer open. Postgres says which, with the same answer
    // for "unknown" and "not yours".
    return grabFromPostgres(deps, packetId, userId);
  }
  const refusal = grabRefusal(status);
  if (refusal) throw refusal;
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
  if (!offer) throw new DomainError(ErrorCode.PacketNotFound, 'no such packet');
  const refusal = refusalOf(offer);
  if (refusal) throw refusal;
  return {
    packetId,
    holdExpiresAt: new Date(Date.now() + deps.holdMs).toISOString(),
    remainingCount: offer.remainingCount,
    degraded: true,
  };
}
