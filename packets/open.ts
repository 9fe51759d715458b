/**
 * Open (拆), the use case the open route calls (`openPacket`). Every step of an open, in order:
 *
 *   1. degraded mode (admission.ts): through the gate unless Redis is down or fails now; then the request's
 *      limits are checked in this process and the strict per-packet limit is paid, and Postgres alone decides;
 *   2. the hold check in Redis (gate/scripts.ts `checkHold`, with the request's rate limits), which answers
 *      strangers and repeat openers without a transaction;
 *   3. the open statement, run in the packet's next batch by this file's batcher (`createOpenBatcher`), whose
 *      SQL is store/openShare.ts (`openShares`, one call of SQL `open_share` for the batch);
 *   4. the hold becomes a claim in Redis, the detail cache is refreshed, and a large claim is credited at once
 *      (creditInOpen.ts).
 *
 * Nothing is sent to Temporal: the claim row is the credit message, which a credit pump picks up.
 */
import type { Config } from '../config';
import type { Db } from '../db';
import type { RedisDeps } from '../redis';
import { viaGateOrPostgres, type Admission, type GatedLimits } from './admission';
import { creditLargeClaim } from './creditInOpen';
import { clearingRoute } from './store/clearing';
import { NO_LIMITS, type GateLimits } from './gate/gate';
import { askGate, CheckHoldStatus, scriptRefusal } from './gate/scripts';
import type { PacketDetailCache } from './runtime/detailCache';
import { KeyedBatcher } from './runtime/keyedBatcher';
import { findClaim, openShares, type OpenedClaim } from './store/openShare';

/**
 * Open statements in flight per packet per process. Two, not one: while one holds the packet's row lock in
 * Postgres the next is already there, waiting for it, so the lock never sits idle for a round trip; more
 * would only queue on the same lock. What waits here rides in the next statement (OPEN_BATCH_MAX_OPENERS).
 */
export const OPEN_STATEMENTS_PER_PACKET = 2;
/**
 * Openers per statement: open_share costs Postgres tens of microseconds per opener under the lock, so a full
 * batch holds a packet's row lock for a few milliseconds at most.
 */
export const OPEN_BATCH_MAX_OPENERS = 64;
/** Holds bound the queue in normal operation; this bounds it in degraded mode. */
export const OPEN_QUEUE_PER_PACKET = 500;

/** Opens a share for `userId` of the packet the batcher is keyed by. */
export type OpenBatcher = KeyedBatcher<string, OpenedClaim>;

/** The open statement's batcher, one per cell and process: a hot packet's openers share one statement. */
export function createOpenBatcher(db: Db): OpenBatcher {
  return new KeyedBatcher(
    OPEN_STATEMENTS_PER_PACKET,
    OPEN_QUEUE_PER_PACKET,
    OPEN_BATCH_MAX_OPENERS,
    (packetId, userIds) => openShares(db, packetId, userIds),
  );
}

export interface OpenDeps {
  db: Db;
  redis: RedisDeps;
  /** The open batcher (`createOpenBatcher`) and the detail cache, built once per cell. */
  packets: { opens: OpenBatcher; cache: PacketDetailCache };
  /** credit.syncMinFen: claims at or above it are credited before the open answers; 0 is off. */
  config: {
    credit: Pick<Config['credit'], 'syncMinFen' | 'shards'>;
    /** Several cells: a large claim of a user homed elsewhere is credited into clearing. */
    cells?: Pick<Config['cells'], 'self' | 'all'>;
  };
}

/** The open a request makes: through the gate with the request's rate limits, or Postgres alone. */
export function openPacket<L>(
  deps: OpenDeps & Admission<L>,
  packetId: string,
  userId: string,
  limits: GatedLimits<L>,
): Promise<OpenedClaim> {
  return viaGateOrPostgres(
    deps,
    packetId,
    limits,
    (gateLimits) => openWithHold(deps, packetId, userId, { redisDown: false, limits: gateLimits }),
    () => openWithHold(deps, packetId, userId, { redisDown: true }),
  );
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
  const claim = await deps.packets.opens.run(packetId, userId);
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
    void deps.packets.cache.invalidate(packetId);
    // The claim row is the credit message (the pumps find it); a large claim is credited before answering.
    const creditedNow = await creditLargeClaim(
      deps.db,
      { id: claim.claimId, packetId, userId, amountFen: claim.amountFen },
      deps.config.credit.syncMinFen,
      clearingRoute(deps.config.cells, deps.config.credit.shards),
    ).catch(() => false);
    if (creditedNow) return { ...claim, credited: true };
  }
  return claim;
}
