/**
 * What the credit pump's activity tells the worker's gauges while it runs (docs/operators.md): every batch
 * as it ends, and the shard's figures (backlog, oldest uncredited age, set-aside and stuck claims) read
 * every PUMP_FIGURES_INTERVAL_MS. A scrape only renders what was last set, so it never reaches Postgres.
 */
import type { Db } from '../db';
import { readPumpFigures, type PumpFigures } from '../packets/store/pumpFigures';
import type { QueueSlice } from '../packets/store/credits';

/** Implemented by the worker's registry (workers/pumpMetrics.ts); a worker without one records nothing. */
export interface CreditPumpMetrics {
  /** A batch that picked at least one claim: its size, its time, and what became of its claims. */
  batch(shard: number, figures: { picked: number; seconds: number }): void;
  /** Claims credited, or set aside after a failed credit, by any step of the run. */
  outcome(shard: number, figures: { credited: number; creditedFen: number; setAside: number }): void;
  figures(shard: number, figures: PumpFigures): void;
}

/**
 * Often enough for a 15 s scrape to see a fresh value, and rare enough that the read (a few bounded index
 * reads) costs the pump nothing next to its batches.
 */
export const PUMP_FIGURES_INTERVAL_MS = 5_000;

/**
 * The run's reader of its shard's figures: `due()` reads them when the interval has passed (at once on the
 * first call). A failed read is only logged: the figures are for operators, the batches are what matter.
 */
export function pumpFiguresReader(
  db: Db,
  slice: QueueSlice,
  stuckAfterMs: number,
  metrics: CreditPumpMetrics | undefined,
  warn: (message: string, meta: Record<string, unknown>) => void,
): { due(): Promise<void> } {
  let nextMs = 0;
  return {
    async due() {
      if (!metrics || Date.now() < nextMs) return;
      nextMs = Date.now() + PUMP_FIGURES_INTERVAL_MS;
      try {
        metrics.figures(slice.shard, await readPumpFigures(db, slice, stuckAfterMs));
      } catch (err) {
        warn('credit pump figures not read', { shard: slice.shard, error: String(err) });
      }
    },
  };
}
