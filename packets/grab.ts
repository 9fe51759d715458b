/**
 * Grab (抢): one Lua call decides, so most of the crowd is turned away by Redis and never reaches Postgres
 * (seed 003). When the gate is missing (Redis lost it) it is re-armed from Postgres; when Redis is down the
 * grab is answered from Postgres instead (the caller applies the strict degraded rate limit).
 */
import type { Db } from '../db';
import { DomainError, ErrorCode } from '../domain/errors';
import type { RedisDeps } from '../redis';
import { canView } from './detail';
import { armGateFromPostgres } from './gate';
import { findPacket } from './store';

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

function grabInRedis(
  deps: GrabDeps,
  packetId: string,
  userId: string,
  nowMs: number,
): Promise<[number, number, number]> {
  const { keys, scripts } = deps.redis;
  return viaGate(() =>
    scripts.grabShare(
      keys.gate(packetId),
      keys.holders(packetId),
      keys.claimed(packetId),
      keys.audience(packetId),
      userId,
      nowMs,
      deps.holdMs,
    ),
  );
}

export async function grab(
  deps: GrabDeps,
  packetId: string,
  userId: string,
  nowMs = Date.now(),
): Promise<Hold> {
  let [status, holdExpiresAtMs, remaining] = await grabInRedis(deps, packetId, userId, nowMs);
  if (
    status === GrabStatus.NotArmed &&
    (await armGateFromPostgres(deps.db, deps.redis, packetId).catch(() => false))
  ) {
    [status, holdExpiresAtMs, remaining] = await grabInRedis(deps, packetId, userId, nowMs);
  }
  if (status === GrabStatus.NotArmed) {
    // Not armed and not armable: unknown, or no longer open. Postgres says which, with the same answer
    // for "unknown" and "not yours".
    return grabFromPostgres(deps, packetId, userId, nowMs);
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

/** Degraded grab: the same checks against Postgres, without reserving a share (the open transaction decides). */
export async function grabFromPostgres(
  deps: GrabDeps,
  packetId: string,
  userId: string,
  nowMs = Date.now(),
): Promise<Hold> {
  const packet = await findPacket(deps.db, packetId);
  if (!packet) throw new DomainError(ErrorCode.PacketNotFound, 'no such packet');
  const { rows } = await deps.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM claims WHERE packet_id = $1 AND user_id = $2',
    [packetId, userId],
  );
  const claimed = (rows[0]?.n ?? 0) > 0;
  if (!canView(packet, userId, claimed ? [userId] : []))
    throw new DomainError(ErrorCode.PacketNotFound, 'no such packet');
  if (claimed) throw new DomainError(ErrorCode.AlreadyClaimed, 'you have already opened this packet');
  if (packet.status !== 'open' || packet.expiresAt.getTime() <= nowMs)
    throw new DomainError(ErrorCode.PacketExpired, 'the packet has expired');
  if (packet.remainingCount === 0)
    throw new DomainError(ErrorCode.PacketExhausted, 'every share has been taken');
  return {
    packetId,
    holdExpiresAt: new Date(nowMs + deps.holdMs).toISOString(),
    remainingCount: packet.remainingCount,
    degraded: true,
  };
}
