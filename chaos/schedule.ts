/**
 * The fault schedule, drawn from the seed alone: the same seed, kinds and duration give the same faults at
 * the same offsets, so a failing run can be replayed. Each kind's injections are stratified over the fault
 * window (one per slice, at a random point in it) so every kind happens early, mid and late, and kinds
 * overlap each other freely.
 */
import type { FaultKind } from './options';
import { Rng } from './rng';

export interface PlannedFault {
  kind: FaultKind;
  /** Offset from the start of the load. */
  atMs: number;
  /** Down time (kill, crash, wipe), pause or cut length. */
  holdMs: number;
  /** Which worker, for worker faults (two run, so one may die while the other works). */
  workerIndex: number;
}

/** Faults start after a quiet warm-up and end before the load does, so the last ones land under load. */
const WARMUP_FRACTION = 0.08;
const FAULT_WINDOW_END_FRACTION = 0.88;

/** [min, max] hold per kind: pauses and cuts of a few seconds, restarts after a short down time. */
const HOLD_RANGE_MS: Record<FaultKind, [number, number]> = {
  'api-kill': [300, 2_000],
  'api-pause': [2_000, 6_000],
  'worker-kill': [300, 3_000],
  'worker-pause': [2_000, 6_000],
  'temporal-kill': [300, 2_000],
  'temporal-pause': [2_000, 6_000],
  // Down long enough for the ring to declare the node gone and move its shards to the other node.
  'temporal-node-kill': [3_000, 12_000],
  'postgres-crash': [300, 2_000],
  'redis-wipe': [300, 2_000],
  'cut-api-postgres': [2_000, 8_000],
  'cut-api-redis': [2_000, 8_000],
  // Down time before the killed master starts again. Its replica is promoted about 2-3 s after the kill
  // (cluster-node-timeout 1 s): a longer hold restarts it as a replica, a shorter one before the failover,
  // when it comes back an empty master (no persistence) and its slots lose their gates, like a wipe.
  'redis-master-kill': [300, 4_000],
};

export function buildSchedule(
  seed: number,
  kinds: readonly FaultKind[],
  perKind: number,
  durationMs: number,
): PlannedFault[] {
  const rng = new Rng(seed).fork(0x5eed);
  const startMs = durationMs * WARMUP_FRACTION;
  const sliceMs = (durationMs * FAULT_WINDOW_END_FRACTION - startMs) / Math.max(perKind, 1);
  const plan: PlannedFault[] = [];
  for (const kind of kinds) {
    const [minMs, maxMs] = HOLD_RANGE_MS[kind];
    for (let slice = 0; slice < perKind; slice++) {
      plan.push({
        kind,
        atMs: Math.round(startMs + slice * sliceMs + rng.next() * sliceMs * 0.9),
        holdMs: rng.int(minMs, maxMs),
        workerIndex: rng.int(0, 1),
      });
    }
  }
  return plan.sort((a, b) => a.atMs - b.atMs);
}
