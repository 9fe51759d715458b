/**
 * Load shapes. A closed loop keeps N clients busy (each starts its next task when the last one answers), as
 * a crowd of N phones would; an open loop starts tasks on a fixed schedule whatever the answers, so a slow
 * server shows up as latency measured from the scheduled start (no coordinated omission).
 */
import type { Progress } from './progress';

export interface LoopResult {
  startedMs: number;
  durationMs: number;
}

/** Runs task(0..count-1) with at most `concurrency` in flight, in index order. */
export async function closedLoop(
  count: number,
  concurrency: number,
  task: (index: number) => Promise<void>,
  progress?: Progress,
): Promise<LoopResult> {
  const startedMs = Date.now();
  let next = 0;
  const client = async () => {
    while (next < count) {
      const index = next++;
      await task(index);
      progress?.add();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, client));
  return { startedMs, durationMs: Date.now() - startedMs };
}

export interface OpenLoopResult extends LoopResult {
  /** Tasks started more than LATE_MS after their slot because `maxInFlight` was reached or the loop lagged. */
  late: number;
}

const LATE_MS = 50;
const TICK_MS = 2;

/**
 * Starts task(i) at startedMs + i / ratePerSecond; `scheduledMs` is passed so the task measures latency from
 * its slot. At most `maxInFlight` run at once (a bound on the generator, not a target).
 */
export async function openLoop(
  count: number,
  ratePerSecond: number,
  maxInFlight: number,
  task: (index: number, scheduledMs: number) => Promise<void>,
  progress?: Progress,
): Promise<OpenLoopResult> {
  const startedMs = Date.now();
  const intervalMs = 1000 / ratePerSecond;
  let next = 0;
  let inFlight = 0;
  let late = 0;
  const running = new Set<Promise<void>>();
  while (next < count) {
    const nowMs = Date.now();
    while (next < count && inFlight < maxInFlight) {
      const scheduledMs = startedMs + next * intervalMs;
      if (scheduledMs > nowMs) break;
      if (nowMs - scheduledMs > LATE_MS) late++;
      const index = next++;
      inFlight++;
      const run: Promise<void> = task(index, scheduledMs).finally(() => {
        inFlight--;
        running.delete(run);
        progress?.add();
      });
      running.add(run);
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  await Promise.all([...running]);
  return { startedMs, durationMs: Date.now() - startedMs, late };
}

/** Maps items with at most `concurrency` in flight (setup work: funding, sending, fetching histories). */
export async function mapLimit<T, R>(
  items: readonly T[],
  concurrency: number,
  fn: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  await closedLoop(items.length, concurrency, async (index) => {
    results[index] = await fn(items[index] as T, index);
  });
  return results;
}
