/**
 * The credit pumps' figures on the worker's registry (workers/pumpMetrics.ts): what a scrape renders, and a
 * shard's gauges dropped once this worker has not set them for PUMP_GAUGES_STALE_AFTER_MS (its pump now runs
 * elsewhere), while the counters and histograms stay, as rate() wants them.
 */
import { Registry } from 'prom-client';
import { createPumpMetrics, PUMP_GAUGES_STALE_AFTER_MS } from '../../workers/pumpMetrics';

const FIGURES = {
  backlog: 12,
  oldestUncreditedAgeSeconds: 0.4,
  setAside: 2,
  stuckClaims: 1,
  stuckPackets: 1,
};

describe('the credit pump metrics', () => {
  afterEach(() => {
    jest.useRealTimers();
  });

  test('render what the pump set, and drop a shard it stopped setting', async () => {
    jest.useFakeTimers({ now: 1_000_000 });
    const registry = new Registry();
    const pump = createPumpMetrics(registry);
    pump.figures(0, FIGURES);
    pump.figures(1, { ...FIGURES, backlog: 3 });
    pump.batch(0, { picked: 40, seconds: 0.03 });
    pump.outcome(0, { credited: 39, creditedFen: 3_900, setAside: 1 });

    let text = await registry.metrics();
    expect(text).toContain('redpacket_credit_pump_backlog_claims{shard="0"} 12');
    expect(text).toContain('redpacket_credit_pump_backlog_claims{shard="1"} 3');
    expect(text).toContain('redpacket_credit_pump_oldest_uncredited_age_seconds{shard="0"} 0.4');
    expect(text).toContain('redpacket_credit_pump_stuck_claims{shard="0"} 1');
    expect(text).toContain('redpacket_credit_pump_batch_claims_bucket{le="50",shard="0"} 1');
    expect(text).toContain('redpacket_credit_pump_credited_claims_total{shard="0"} 39');
    expect(text).toContain('redpacket_credit_pump_credited_fen_total{shard="0"} 3900');
    expect(text).toContain('redpacket_credit_pump_set_aside_total{shard="0"} 1');

    // Shard 1's pump moved to another worker; shard 0's is still here and sets its figures again.
    jest.setSystemTime(1_000_000 + PUMP_GAUGES_STALE_AFTER_MS - 1_000);
    pump.figures(0, { ...FIGURES, stuckClaims: 0 });
    jest.setSystemTime(1_000_000 + PUMP_GAUGES_STALE_AFTER_MS + 1_000);
    text = await registry.metrics();
    expect(text).toContain('redpacket_credit_pump_stuck_claims{shard="0"} 0');
    expect(text).not.toContain('shard="1"');
    expect(text).toContain('redpacket_credit_pump_credited_claims_total{shard="0"} 39');
  });
});
