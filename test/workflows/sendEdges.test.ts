import { ErrorCode } from '../../domain/errors';
import { createTemporal } from '../../temporal/client';
import { sendPacket } from '../../packets/send';
import { openShare } from '../../packets/store/openShare';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, fund, send } from '../support/packets';
import { expectAuditClean } from '../support/audit';

describe('send and open edge cases', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  test('a key reused for a different packet is refused, even after the HTTP idempotency store forgot it', async () => {
    await fund(h, 'reuser', 1_000);
    const first = await send(
      h,
      'reuser',
      { type: 'random', amountFen: 100, count: 2 },
      { idempotencyKey: 'same' },
    );
    await expect(
      send(h, 'reuser', { type: 'random', amountFen: 300, count: 2 }, { idempotencyKey: 'same' }),
    ).rejects.toMatchObject({
      code: ErrorCode.IdempotencyKeyReused,
    });
    expect(
      (await send(h, 'reuser', { type: 'random', amountFen: 100, count: 2 }, { idempotencyKey: 'same' }))
        .packetId,
    ).toBe(first.packetId);
    expect(await balanceOf(h, 'reuser')).toBe(900);
  });

  test('when a pre-allocated id is already another packet, the send pays nothing, answers retry, and the retry pays once', async () => {
    await fund(h, 'owner', 500);
    await fund(h, 'intruder', 500);
    const owners = await send(h, 'owner', { type: 'fixed', amountFen: 200, count: 2 });
    // Simulate a rewound id counter: the intruder's key is mapped to the owner's packet id.
    await h.db.query(
      `INSERT INTO packet_requests (sender_id, idempotency_key, packet_id) VALUES ('intruder', 'k', $1)`,
      [owners.packetId],
    );
    await expect(
      send(h, 'intruder', { type: 'fixed', amountFen: 300, count: 3 }, { idempotencyKey: 'k' }),
    ).rejects.toMatchObject({
      code: ErrorCode.PaymentPending,
    });
    expect(await balanceOf(h, 'intruder')).toBe(500);
    const retried = await send(
      h,
      'intruder',
      { type: 'fixed', amountFen: 300, count: 3 },
      { idempotencyKey: 'k' },
    );
    expect(retried.packetId).not.toBe(owners.packetId);
    expect(retried).toMatchObject({ senderId: 'intruder', totalFen: 300 });
    expect(await balanceOf(h, 'intruder')).toBe(200);
  });

  test('with Temporal unreachable, a send answers payment_pending and moves no money', async () => {
    await fund(h, 'waiting', 500);
    const unreachable = createTemporal({ temporal: { ...h.config.temporal, address: '127.0.0.1:1' } });
    try {
      await expect(
        sendPacket(
          { ...h, temporal: unreachable },
          'waiting',
          { type: 'random', amountFen: 100, count: 1 },
          { idempotencyKey: 'w' },
        ),
      ).rejects.toMatchObject({ code: ErrorCode.PaymentPending });
    } finally {
      await unreachable.close().catch(() => undefined);
    }
    expect(await balanceOf(h, 'waiting')).toBe(500);
  });

  test('a greeting with control characters is refused before anything starts', async () => {
    await expect(
      send(h, 'nul', { type: 'random', amountFen: 100, count: 1, greeting: 'hi\u0000' }),
    ).rejects.toMatchObject({
      code: ErrorCode.InvalidPacket,
    });
  });

  test('a double tap on the last share returns the same claim to both requests', async () => {
    // Twenty packets, so the second request reaches the row lock after the first committed at least once.
    await fund(h, 'tapper-sender', 2_000);
    for (let round = 0; round < 20; round++) {
      const packet = await send(h, 'tapper-sender', { type: 'fixed', amountFen: 100, count: 1 });
      const taps = await Promise.all([1, 2, 3].map(() => openShare(h.db, packet.packetId, 'tapper')));
      expect(new Set(taps.map((tap) => tap.claimId)).size).toBe(1);
      expect(taps.filter((tap) => tap.created)).toHaveLength(1);
    }
  });
});
