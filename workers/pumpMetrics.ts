/**
 * The credit pumps' figures on the worker's /metrics (docs/operators.md), set by the pump's activity as it
 * runs (activities/creditPumpMetrics.ts): batch size and time, claims credited and set aside, and per shard
 * the backlog, the oldest uncredited claim's age and the set-aside and stuck claims. Nothing here reads
 * Postgres: a scrape renders what the pump last set.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { PUMP_FIGURES_INTERVAL_MS, type CreditPumpMetrics } from '../activities/creditPumpMetrics';
import type { PumpFigures } from '../packets/store/pumpFigures';

/**
 * A shard's pump runs in one worker at a time, a minute per run, and the next run may land on another
 * worker. A shard's gauges not set for this long are dropped from this process's scrape, so a worker that
 * no longer runs the shard stops repeating what it saw last (a stuck claim long credited, a backlog long
 * gone). Six read intervals: a batch waiting out lock timeouts may delay a read by seconds.
 */
export const PUMP_GAUGES_STALE_AFTER_MS = 6 * PUMP_FIGURES_INTERVAL_MS;

/** A batch is a few claims when opens trickle in and hundreds (CREDIT_BATCH_MAX, 500) in a storm. */
const BATCH_CLAIMS_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];
/** About eleven round trips a batch: milliseconds, seconds when a row is held (lock timeouts). */
const BATCH_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

type ShardGauge = Gauge<'shard'>;

const GAUGES: Record<keyof PumpFigures, { name: string; help: string }> = {
  backlog: {
    name: 'redpacket_credit_pump_backlog_claims',
    help: 'Uncredited claims of the shard, set-aside ones included (counted up to 100000), as its pump last read them',
  },
  oldestUncreditedAgeSeconds: {
    name: 'redpacket_credit_pump_oldest_uncredited_age_seconds',
    help: 'How long the oldest claim the pump would credit next has waited (0: none waiting), as last read',
  },
  setAside: {
    name: 'redpacket_credit_pump_set_aside_claims',
    help: 'Claims of the shard set aside after a failed credit, waiting for a retry, as last read',
  },
  stuckClaims: {
    name: 'redpacket_credit_pump_stuck_claims',
    help: 'Claims of the shard failing to credit for longer than CREDIT_STUCK_AFTER_MS (CreditStuck), as last read',
  },
  stuckPackets: {
    name: 'redpacket_credit_pump_stuck_packets',
    help: 'Packets of the shard with a stuck credit (CreditStuck = true), as last read',
  },
};

export function createPumpMetrics(registry: Registry): CreditPumpMetrics {
  const registers = [registry];
  const setAtMs = new Map<string, number>();
  const gauges = {} as Record<keyof PumpFigures, ShardGauge>;
  /** Drops the shards this process has not heard of lately; called by each gauge before it is read. */
  const dropStale = () => {
    const oldestMs = Date.now() - PUMP_GAUGES_STALE_AFTER_MS;
    for (const [shard, atMs] of setAtMs) {
      if (atMs >= oldestMs) continue;
      setAtMs.delete(shard);
      for (const gauge of Object.values(gauges)) gauge.remove({ shard });
    }
  };
  for (const key of Object.keys(GAUGES) as (keyof PumpFigures)[]) {
    gauges[key] = new Gauge({ ...GAUGES[key], labelNames: ['shard'], registers, collect: dropStale });
  }
  const batchClaims = new Histogram({
    name: 'redpacket_credit_pump_batch_claims',
    help: 'Claims per credit batch (one Postgres transaction), batches that found any',
    labelNames: ['shard'],
    buckets: BATCH_CLAIMS_BUCKETS,
    registers,
  });
  const batchSeconds = new Histogram({
    name: 'redpacket_credit_pump_batch_duration_seconds',
    help: 'Time of one credit batch, from picking its claims to the "finished" mark after its commit',
    labelNames: ['shard'],
    buckets: BATCH_SECONDS_BUCKETS,
    registers,
  });
  const credited = new Counter({
    name: 'redpacket_credit_pump_credited_claims_total',
    help: 'Claims credited by the credit pumps in this worker',
    labelNames: ['shard'],
    registers,
  });
  const creditedFen = new Counter({
    name: 'redpacket_credit_pump_credited_fen_total',
    help: 'Fen credited to wallets (or into clearing) by the credit pumps in this worker',
    labelNames: ['shard'],
    registers,
  });
  const setAside = new Counter({
    name: 'redpacket_credit_pump_set_aside_total',
    help: 'Credits that failed and were set aside for a retry (a claim failing again on its retry counts again)',
    labelNames: ['shard'],
    registers,
  });
  return {
    batch(shard, { picked, seconds }) {
      batchClaims.observe({ shard: String(shard) }, picked);
      batchSeconds.observe({ shard: String(shard) }, seconds);
    },
    outcome(shard, figures) {
      const labels = { shard: String(shard) };
      // A counter is created at 0 when first touched, so rate() has a start even before the first failure.
      credited.inc(labels, figures.credited);
      creditedFen.inc(labels, figures.creditedFen);
      setAside.inc(labels, figures.setAside);
    },
    figures(shard, figures) {
      const labels = { shard: String(shard) };
      setAtMs.set(labels.shard, Date.now());
      for (const key of Object.keys(GAUGES) as (keyof PumpFigures)[]) gauges[key].set(labels, figures[key]);
    },
  };
}
