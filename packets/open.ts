/**
 * Open (拆), the use case the open route calls: check the hold in Redis, run the open statement in the packet's next batch, then turn
 * the hold into a claim in Redis and refresh the detail cache. Nothing is sent to Temporal: the claim row is
 * the credit message, which a credit pump picks up. Without Redis the hold check is skipped and Postgres
 * alone decides (the caller applies the strict degraded rate limit).
 */
import type { Db } from '../db';
import type { RedisDeps } from '../redis';
import { creditLargeClaim } from './creditInOpen';
import { NO_LIMITS, type GateLimits } from './gate/gate';
import { askGate, CheckHoldStatus, scriptRefusal } from './gate/scripts';
import type { PacketDetailCache } from './runtime/detailCache';
import type { OpenBatcher } from './runtime/services';
import { findClaim, type OpenedClaim } from './store/openShare';

export interface OpenDeps {
  db: Db;
  redis: RedisDeps;
  /** Runs the open statement, batching a hot packet's openers (packets/runtime/services.ts). */
  opens: OpenBatcher;
  cache: PacketDetailCache;
  /** Claims at or above this are credited before the open answers (CREDIT_SYNC_MIN_FEN); 0 is off. */
  creditSyncMinFen?: number;
}

export async function openWithHold(
  deps: OpenDeps,
  packetId: string,
  userId: string,
  options: { redisDown: boolean; limits?: GateLimits },
): Promise<OpenedClaim> {
  let useGate = !options.redisDown;
  if (useGate) {
    const [status] = await askGate(deps, 'checkHold', packetId, userId, [], options.limits ?? NO_LIMITS);
    if (status === CheckHoldStatus.Claimed) {
      const claim = await findClaim(deps.db, packetId, userId);
      if (claim) return claim;
    }
    // Strangers and repeat openers are answered without a transaction: only live holds reach the batcher.
    const refused = scriptRefusal('checkHold', status);
    if (refused) throw refused;
    // A gate that cannot be armed belongs to a packet that is unknown or no longer open: Postgres answers
    // (and would refuse any claim: it checks status, expiry and eligibility itself).
    useGate = status !== CheckHoldStatus.NotArmed;
  }
  const claim = await deps.opens.run(packetId, userId);
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
