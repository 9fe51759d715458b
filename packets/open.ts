/**
 * Open (拆), the use case the open route calls: check the hold in Redis, run the open statement in the
 * packet's next batch, then turn the hold into a claim in Redis and refresh the detail cache. Nothing is sent
 * to Temporal: the claim row is the credit message, which a credit pump picks up. Without Redis the hold
 * check is skipped and Postgres alone decides (the caller applies the strict degraded rate limit).
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

/**
 * Gate answers that a committed claim can hide: its open committed but the confirm never reached Redis (the
 * process died, or the answer was lost), so the gate still has the user as a holder, whose hold then lapses
 * (no hold; exhausted once the pool is empty) or outlives the packet (expired). The share is the user's.
 */
const MAY_HIDE_A_CLAIM: ReadonlySet<number> = new Set([
  CheckHoldStatus.NoHold,
  CheckHoldStatus.Exhausted,
  CheckHoldStatus.Expired,
]);

/**
 * The user's claim, when Postgres has one the gate never heard of; the gate is told now (confirmOpen takes the
 * share back out of the pool if the lapsed hold returned it), so the next repeat is answered by Redis.
 */
async function claimWhoseConfirmWasLost(
  deps: OpenDeps,
  packetId: string,
  userId: string,
): Promise<OpenedClaim | undefined> {
  const claim = await findClaim(deps.db, packetId, userId);
  if (!claim) return undefined;
  const { keys, scripts } = deps.redis;
  await scripts
    .confirmOpen(keys.gate(packetId), keys.holders(packetId), keys.claimed(packetId), userId)
    .catch(() => undefined);
  return claim;
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
    if (refused) {
      if (MAY_HIDE_A_CLAIM.has(status)) {
        const claim = await claimWhoseConfirmWasLost(deps, packetId, userId);
        if (claim) return claim;
      }
      throw refused;
    }
    // A gate that cannot be armed belongs to a packet that is unknown or no longer open: Postgres answers
    // (and would refuse any claim: it checks status, expiry and eligibility itself).
    useGate = status !== CheckHoldStatus.NotArmed;
  }
  const claim = await deps.opens.run(packetId, userId);
  // The answer does not wait for these Redis writes. In a storm each wait is a turn of an event loop busy
  // with thousands of grabs (about 50 ms each), and the opener already waited three. None is needed for the
  // answer to be true: Postgres holds the claim (a repeat open finds it whatever Redis says), they were best
  // effort before, and this process's later commands on the same connection run after them, so its own next
  // grab or detail read sees the claim. Other replicas' detail caches were only ever eventually consistent
  // (detailCache.ts).
  if (useGate) {
    // The live hold that reached the statement becomes a claim, for a repeat too: a repeat through a live
    // hold means an earlier confirm was lost (say the answer to a committed statement was, and the opener
    // retried), and the hold would otherwise lapse back into the pool. confirmOpen is idempotent.
    const { keys, scripts } = deps.redis;
    scripts
      .confirmOpen(keys.gate(packetId), keys.holders(packetId), keys.claimed(packetId), userId)
      .catch(() => undefined);
  }
  if (claim.created) {
    void deps.cache.invalidate(packetId);
    // The claim row is the credit message (the pumps find it); a large claim is credited before answering.
    const creditedNow = await creditLargeClaim(
      deps.db,
      { id: claim.claimId, packetId, userId, amountFen: claim.amountFen },
      deps.creditSyncMinFen ?? 0,
    ).catch(() => false);
    if (creditedNow) return { ...claim, credited: true };
  }
  return claim;
}
