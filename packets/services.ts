/** The API's per-process packet machinery: signal coalescer, per-packet open limiter, detail cache. */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { Config } from '../config';
import type { Logger } from '../config/logger';
import type { Db } from '../db';
import type { RedisDeps } from '../redis';
import type { TemporalDeps } from '../temporal/client';
import { PacketDetailCache } from './detailCache';
import { KeyedLimiter } from './limiter';
import { ClaimSignaler } from './signals';

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
  signaler: ClaimSignaler;
  limiter: KeyedLimiter;
  cache: PacketDetailCache;
  /** Open transactions sent to Postgres by this process. */
  openTransactions: { count: number };
  close(): Promise<void>;
}

export function createPacketServices(deps: {
  config: Config;
  log: Logger;
  db: Db;
  redis: RedisDeps;
  temporal: TemporalDeps;
  /** Called after each delivered `claimed` signal (metrics). */
  onSignalSent?: () => void;
}): PacketServices {
  const signaler = new ClaimSignaler(
    deps.temporal,
    deps.config.packet.signalFlushIntervalMs,
    (packetId, err) => {
      // A workflow that already finished credited the claim in its last wave: nothing was lost.
      if (err instanceof WorkflowNotFoundError) return;
      // Otherwise only a wake-up was lost; the workflow's sweep finds the claim.
      deps.log.warn({ packetId, err }, 'claimed signal not delivered');
    },
    () => deps.onSignalSent?.(),
  );
  return {
    signaler,
    limiter: new KeyedLimiter(OPEN_CONCURRENCY_PER_PACKET, OPEN_QUEUE_PER_PACKET),
    cache: new PacketDetailCache(deps.db, deps.redis),
    openTransactions: { count: 0 },
    close: () => signaler.drain(),
  };
}
