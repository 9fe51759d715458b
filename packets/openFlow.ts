/**
 * The API's open: check the hold in Redis, run the open statement behind the per-packet limiter, then turn
 * the hold into a claim in Redis and refresh the detail cache. Nothing is sent to Temporal: the claim row is
 * the credit message, which a credit pump picks up. Without Redis the hold check is skipped and Postgres
 * alone decides (the caller applies the strict degraded rate limit).
 */
import type { Db } from '../db';
import { creditLargeClaim } from './creditInOpen';
import { ErrorCode, refusal } from '../domain/errors';
import { refuse } from './access';
import type { RedisDeps } from '../redis';
import type { PacketDetailCache } from './detailCache';
import { GATE_EXPIRY_GRACE_MS, NO_LIMITS, RATE_LIMITED, type GateLimits } from './gate';
import { rearm, viaGate } from './grab';
import type { KeyedLimiter } from './limiter';
import { findClaim, openShare, type OpenedClaim } from './open';

/** Status codes of redis/scripts/checkHold.lua. */
export const HoldStatus = {
  Live: 1,
  Claimed: 2,
  None: -1,
  Exhausted: -2,
  NotArmed: -3,
  Expired: -4,
  NotAllowed: -5,
  RateLimited: RATE_LIMITED,
} as const;

export interface OpenDeps {
  db: Db;
  redis: RedisDeps;
  limiter: KeyedLimiter;
  cache: PacketDetailCache;
  /** Claims at or above this are credited before the open answers (CREDIT_SYNC_MIN_FEN); 0 is off. */
  creditSyncMinFen?: number;
}

async function checkHold(
  deps: OpenDeps,
  packetId: string,
  userId: string,
  limits: GateLimits,
): Promise<number> {
  const { keys, scripts } = deps.redis;
  const [status, waitMs, index] = await viaGate(() =>
    scripts.checkHold(
      4 + limits.keys.length,
      keys.gate(packetId),
      keys.holders(packetId),
      keys.claimed(packetId),
      keys.audience(packetId),
      ...limits.keys,
      userId,
      GATE_EXPIRY_GRACE_MS,
      ...limits.argv,
    ),
  );
  if (status === RATE_LIMITED) throw limits.refusal(index - 1, waitMs);
  return status;
}

export async function openWithHold(
  deps: OpenDeps,
  packetId: string,
  userId: string,
  options: { redisDown: boolean; limits?: GateLimits },
): Promise<OpenedClaim> {
  let useGate = !options.redisDown;
  if (useGate) {
    let status = await checkHold(deps, packetId, userId, options.limits ?? NO_LIMITS);
    if (status === HoldStatus.NotArmed && (await rearm(deps, packetId))) {
      status = await checkHold(deps, packetId, userId, NO_LIMITS);
    }
    // Strangers and repeat openers are answered without a transaction: only live holds reach the limiter.
    if (status === HoldStatus.NotAllowed) throw refuse.notFound();
    if (status === HoldStatus.Expired) throw refuse.expired();
    if (status === HoldStatus.Exhausted) throw refuse.exhausted();
    if (status === HoldStatus.Claimed) {
      const claim = await findClaim(deps.db, packetId, userId);
      if (claim) return claim;
    }
    if (status === HoldStatus.None)
      throw refusal(ErrorCode.NoHold, 'grab a share first, or your hold has lapsed');
    // A gate that cannot be armed belongs to a packet that is unknown or no longer open: Postgres answers
    // (and would refuse any claim: it checks status, expiry and eligibility itself).
    useGate = status !== HoldStatus.NotArmed;
  }
  const claim = await deps.limiter.run(packetId, () => openShare(deps.db, packetId, userId));
  if (claim.created) {
    const { keys, scripts } = deps.redis;
    // Both go out at once: one round trip, not two, for an opener waiting behind a busy event loop. The
    // claim row is the credit message (the pump finds it), so nothing else is sent.
    const confirmed = useGate
      ? scripts
          .confirmOpen(keys.gate(packetId), keys.holders(packetId), keys.claimed(packetId), userId)
          .catch(() => undefined)
      : undefined;
    const credited = creditLargeClaim(
      deps.db,
      { id: claim.claimId, packetId, userId, amountFen: claim.amountFen },
      deps.creditSyncMinFen ?? 0,
    ).catch(() => false);
    const [, , creditedNow] = await Promise.all([confirmed, deps.cache.invalidate(packetId), credited]);
    if (creditedNow) return { ...claim, credited: true };
  }
  return claim;
}
