/** The API's per-process packet machinery: the per-packet open limiter and the detail cache. */
import type { Db } from '../../db';
import type { RedisDeps } from '../../redis';
import { PacketDetailCache } from './detailCache';
import { KeyedLimiter } from './limiter';

/**
 * Concurrent open statements per packet per process; more wait in line (seed 002: bounded hot rows). An open
 * holds the row lock inside one statement only, so the lanes behind it wait in Postgres for microseconds;
 * what they save is event-loop turns: in a storm each turn is long, and with 4 lanes 100 opens took 25 of
 * them (docs/hot-path.md). 8 is under half the default pool (DATABASE_POOL_MAX 20), so a hot packet's
 * opens leave connections for everything else.
 */
export const OPEN_CONCURRENCY_PER_PACKET = 8;
/** Holds bound the queue in normal operation; this bounds it in degraded mode. */
export const OPEN_QUEUE_PER_PACKET = 500;

export interface PacketServices {
  limiter: KeyedLimiter;
  cache: PacketDetailCache;
}

export function createPacketServices(deps: { db: Db; redis: RedisDeps }): PacketServices {
  return {
    limiter: new KeyedLimiter(OPEN_CONCURRENCY_PER_PACKET, OPEN_QUEUE_PER_PACKET),
    cache: new PacketDetailCache(deps.db, deps.redis),
  };
}
