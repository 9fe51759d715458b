import { openShare } from '../../packets/store/openShare';
import { createHarness, type Harness } from '../support/harness';
import { fund, historyLength, packetResult, send } from '../support/packets';
import { expectAuditClean } from '../support/audit';

/** The bound: a packet's history does not grow with its shares or its lifetime. */
const PACKET_EVENTS_MAX = 30;

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

  // Without a sweep, a packet nobody opens records one timer however long it lives, so a short expiry
  // stands for a 24 h one.
  test(`a packet that nobody opens and that expires stays under ${PACKET_EVENTS_MAX} events`, async () => {
    await fund(h, 'idle-sender', 100);
    const packet = await send(h, 'idle-sender', {
      type: 'random',
      amountFen: 100,
      count: 10,
      expiresInSeconds: 3,
    });
    const result = await packetResult(h, packet.packetId);
    expect(result).toMatchObject({ creditedCount: 0, refundFen: 100 });
    const events = await historyLength(h, packet.packetId);
    process.stdout.write(`idle packet history: ${events} events\n`);
    expect(events).toBeLessThan(PACKET_EVENTS_MAX);
  }, 30_000);

  test.each([1, 10, 100])(
    `a fully claimed packet of %i shares stays under ${PACKET_EVENTS_MAX} events`,
    async (count) => {
      const sender = `full-sender-${count}`;
      await fund(h, sender, count * 100);
      const packet = await send(h, sender, { type: 'random', amountFen: count * 100, count });
      await Promise.all(
        Array.from({ length: count }, (_, i) => openShare(h.db, packet.packetId, `full-${count}-${i}`)),
      );
      expect(await packetResult(h, packet.packetId)).toMatchObject({ creditedCount: count, refundFen: 0 });
      const events = await historyLength(h, packet.packetId);
      process.stdout.write(`fully claimed ${count}-share packet history: ${events} events\n`);
      expect(events).toBeLessThan(PACKET_EVENTS_MAX);
    },
    30_000,
  );
});
