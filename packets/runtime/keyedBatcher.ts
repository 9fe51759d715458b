/**
 * Bounds concurrent open transactions per packet inside one API process (seed 002: hot-row handling with
 * in-process counters). Extra opens of a hot packet queue here instead of piling onto its row lock in
 * Postgres; a full queue is refused at once as busy.
 */
import { DomainError, ErrorCode } from '../../domain/errors';

interface Lane {
  active: number;
  waiting: (() => void)[];
}

export class KeyedLimiter {
  private readonly lanes = new Map<string, Lane>();

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
  ) {}

  async run<T>(key: string, task: () => Promise<T>): Promise<T> {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { active: 0, waiting: [] };
      this.lanes.set(key, lane);
    }
    if (lane.active >= this.maxConcurrent) {
      if (lane.waiting.length >= this.maxQueued) {
        throw new DomainError(ErrorCode.PacketBusy, 'too many opens of this packet at once; retry shortly', {
          key,
        });
      }
      const current = lane;
      await new Promise<void>((resolve) => current.waiting.push(resolve));
    }
    lane.active++;
    try {
      return await task();
    } finally {
      lane.active--;
      const next = lane.waiting.shift();
      if (next) next();
      else if (lane.active === 0) this.lanes.delete(key);
    }
  }

  /** Packets with opens in flight or queued (for metrics). */
  get size(): number {
    return this.lanes.size;
  }
}
