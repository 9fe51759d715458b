/**
 * The API's open: check the hold in Redis, run the open transaction behind the per-packet limiter, then turn
 * the hold into a claim in Redis, wake the workflow and refresh the detail cache. Without Redis the hold
 * check is skipped and Postgres alone decides (the caller applies the strict degraded rate limit).
 */
import type { Db } from '../db';
import { DomainError, ErrorCode } from '../domain/errors';
import type { RedisDeps } from '../redis';
import type { PacketDetailCache } from './detailCache';
import { GATE_EXPIRY_GRACE_MS } from './gate';
import { rearm, viaGate } from './grab';
import type { KeyedLimiter } from './limiter';
import { findClaim, openShare, type OpenedClaim } from './open';
import type { ClaimSignaler } from './signals';

/** Status codes of redis/scripts/checkHold.lua. */
export const HoldStatus = {
  Live: 1,
  Claimed: 2,
  None: -1,
  Exhausted: -2,
  NotArmed: -3,
  Expired: -4,
  NotAllowed: -5,
} as const;

export interface OpenDeps {
  db: Db;
  redis: RedisDeps;
  limiter: KeyedLimiter;
  signaler: ClaimSignaler;
  cache: PacketDetailCache;
  /** Called once per open transaction sent to Postgres (the storm test counts them). */
  onTransaction?: () => void;
}

function checkHold(deps: OpenDeps, packetId: string, userId: string): Promise<number> {
  const { keys, scripts } = deps.redis;
  return viaGate(() =>
    scripts.checkHold(
      keys.gate(packetId),
      keys.holders(packetId),
      keys.claimed(packetId),
      keys.audience(packetId),
      userId,
      GATE_EXPIRY_GRACE_MS,
    ),
  );
}

export async function openWithHold(
  deps: OpenDeps,
  packetId: string,
  userId: string,
  options: { redisDown: boolean },
): Promise<OpenedClaim> {
  let useGate = !options.redisDown;
  if (useGate) {
    let status = await checkHold(deps, packetId, userId);
    if (status === HoldStatus.NotArmed && (await rearm(deps, packetId))) {
      status = await checkHold(deps, packetId, userId);
    }
    // Strangers and repeat openers are answered without a transaction: only live holds reach the limiter.
    if (status === HoldStatus.NotAllowed) throw new DomainError(ErrorCode.PacketNotFound, 'no such packet');
    if (status === HoldStatus.Expired)
      throw new DomainError(ErrorCode.PacketExpired, 'the packet has expired');
    if (status === HoldStatus.Exhausted)
      throw new DomainError(ErrorCode.PacketExhausted, 'every share has been taken');
    if (status === HoldStatus.Claimed) {
      const claim = await findClaim(deps.db, packetId, userId);
      if (claim) return claim;
    }
    if (status === HoldStatus.None)
      throw new DomainError(ErrorCode.NoHold, 'grab a share first, or your hold has lapsed');
    // A gate that cannot be armed belongs to a packet that is unknown or no longer open: Postgres answers
    // (and would refuse any claim: it checks status, expiry and eligibility itself).
    useGate = status !== HoldStatus.NotArmed;
  }
  const claim = await deps.limiter.run(packetId, () =>
    openShare(deps.db, packetId, userId, { onTransaction: deps.onTransaction }),
  );
  if (claim.created) {
    const { keys, scripts } = deps.redis;
    if (useGate)
      await scripts
        .confirmOpen(keys.gate(packetId), keys.holders(packetId), keys.claimed(packetId), userId)
        .catch(() => undefined);
    await deps.cache.invalidate(packetId);
  }
  return claim;
}
