/** The API's per-process packet machinery: the per-packet open batcher and the detail cache. */
import type { Db } from '../../db';
import type { RedisDeps } from '../../redis';
import { openShares, type OpenedClaim } from '../store/openShare';
import { PacketDetailCache } from './detailCache';
import { KeyedBatcher } from './keyedBatcher';

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

export interface PacketServices {
  opens: OpenBatcher;
  cache: PacketDetailCache;
}

export function createPacketServices(deps: { db: Db; redis: RedisDeps }): PacketServices {
  return {
    opens: new KeyedBatcher(
      OPEN_STATEMENTS_PER_PACKET,
      OPEN_QUEUE_PER_PACKET,
      OPEN_BATCH_MAX_OPENERS,
      (packetId, userIds) => openShares(deps.db, packetId, userIds),
    ),
    cache: new PacketDetailCache(deps.db, deps.redis),
  };
}
