import { SWEEP_BASE_MS, SWEEP_MAX_MS } from '../../workflows/packet';
import { createHarness, type Harness } from '../support/harness';
import { fund, historyLength, packetResult, send } from '../support/packets';
import { expectAuditClean } from '../support/audit';

const DAY_S = 86_400;

describe('history budget', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
  });

  // A day is compressed into EXPIRY_S seconds by scaling the sweep timing by the same factor, which keeps the
  // number of sweeps (and so of history events) what a real 24 h packet would record.
  const EXPIRY_S = 35;
  const scale = EXPIRY_S / DAY_S;

  test('a packet that nobody opens and that expires after a (scaled) day stays under 200 events', async () => {
    await fund(h, 'idle-sender', 100);
    const packet = await send(
      h,
      'idle-sender',
      { type: 'random', amountFen: 100, count: 10, expiresInSeconds: EXPIRY_S },
      { sweep: { baseMs: SWEEP_BASE_MS * scale, maxMs: SWEEP_MAX_MS * scale } },
    );
    const result = await packetResult(h, packet.packetId);
    expect(result).toMatchObject({ creditedCount: 0, refundFen: 100 });
    const events = await historyLength(h, packet.packetId);
    process.stdout.write(`idle 24h packet history: ${events} events\n`);
    expect(events).toBeLessThan(200);
  }, 90_000);
});
