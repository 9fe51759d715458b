/**
 * Bounds the open statements per packet inside one API process (seed 002: hot-row handling with in-process
 * counters) and batches what waits. Extra opens of a hot packet queue here instead of piling onto its row
 * lock in Postgres; when a statement finishes, the next one carries every opener queued meanwhile (up to a
 * batch), so a storm's opens cost one lock, one round trip and one commit per batch, not per opener. A full
 * queue is refused at once as busy.
 */
import { DomainError, ErrorCode } from '../../domain/errors';

interface Waiter<I, O> {
  item: I;
  resolve: (value: O) => void;
  reject: (reason: Error) => void;
}

interface Lane<I, O> {
  active: number;
  waiting: Waiter<I, O>[];
}

/**
 * Runs one batch of a key's items; answers each item in its place, an Error for the ones that failed.
 * A rejection fails the whole batch.
 */
export type BatchRunner<I, O> = (key: string, items: I[]) => Promise<(O | Error)[]>;

export class KeyedBatcher<I, O> {
  private readonly lanes = new Map<string, Lane<I, O>>();

  constructor(
    readonly maxConcurrent: number,
    readonly maxQueued: number,
    readonly maxBatch: number,
    private readonly runBatch: BatchRunner<I, O>,
  ) {}

  run(key: string, item: I): Promise<O> {
    let lane = this.lanes.get(key);
    if (!lane) {
      lane = { active: 0, waiting: [] };
      this.lanes.set(key, lane);
    }
    if (lane.waiting.length >= this.maxQueued) {
      return Promise.reject(
        new DomainError(ErrorCode.PacketBusy, 'too many opens of this packet at once; retry shortly', {
          key,
        }),
      );
    }
    const current = lane;
    const answer = new Promise<O>((resolve, reject) => current.waiting.push({ item, resolve, reject }));
    if (lane.active < this.maxConcurrent) this.start(key, lane);
    return answer;
  }

  private start(key: string, lane: Lane<I, O>): void {
    const batch = lane.waiting.splice(0, this.maxBatch);
    lane.active++;
    this.runBatch(
      key,
      batch.map((waiter) => waiter.item),
    )
      .then(
        (results) =>
          batch.forEach((waiter, i) => {
            const result = results[i];
            if (result instanceof Error) waiter.reject(result);
            else if (result === undefined) waiter.reject(new Error(`batch of ${key} answered no item ${i}`));
            else waiter.resolve(result);
          }),
        (err: unknown) => {
          const reason = err instanceof Error ? err : new Error(String(err));
          for (const waiter of batch) waiter.reject(reason);
        },
      )
      .finally(() => {
        lane.active--;
        if (lane.waiting.length > 0) this.start(key, lane);
        else if (lane.active === 0) this.lanes.delete(key);
      });
  }

  /** Keys with batches in flight or queued (for metrics). */
  get size(): number {
    return this.lanes.size;
  }
}
