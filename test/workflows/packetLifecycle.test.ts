import { WorkflowFailedError } from '@temporalio/client';
import { ErrorCode } from '../../domain/errors';
import { escrowAccount } from '../../domain/accounts';
import { packetWorkflowId, packetViewQuery } from '../../workflows/messages';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, fund, historyLength, open, packetResult, send, signalerFor } from '../support/packets';
import { expectAuditClean } from '../support/audit';

describe('packet saga', () => {
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

  test('when the sender cannot cover the packet, sending answers insufficient funds, the workflow fails and nothing is written', async () => {
    await fund(h, 'poor', 50);
    const attempt = send(h, 'poor', { type: 'random', amountFen: 100, count: 2 });
    await expect(attempt).rejects.toMatchObject({ code: ErrorCode.InsufficientFunds });
    const { rows } = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM packets WHERE sender_id = 'poor'",
    );
    expect(rows[0]?.n).toBe(0);
    expect(await balanceOf(h, 'poor')).toBe(50);
    const { rows: workflows } = await h.db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM transfers WHERE kind = 'pay'",
    );
    expect(workflows[0]?.n).toBe(0);
  });

  test('when every share of a 100-share packet is opened, each claim is credited once and the workflow completes within its history budget', async () => {
    await fund(h, 'alice', 20_000);
    const packet = await send(h, 'alice', { type: 'random', amountFen: 20_000, count: 100 });
    expect(packet).toMatchObject({ status: 'open', totalFen: 20_000, count: 100, remainingCount: 100 });
    expect(await balanceOf(h, 'alice')).toBe(0);

    const signaler = signalerFor(h);
    const users = Array.from({ length: 100 }, (_, i) => `u${i}`);
    const claims = await Promise.all(users.map((user) => open(h, signaler, packet.packetId, user)));
    await signaler.drain();
    const result = await packetResult(h, packet.packetId);

    expect(result).toMatchObject({ creditedCount: 100, creditedFen: 20_000, refundFen: 0 });
    expect(claims.reduce((sum, claim) => sum + claim.amountFen, 0)).toBe(20_000);
    for (const claim of claims) expect(await balanceOf(h, claim.userId)).toBe(claim.amountFen);
    const { rows } = await h.db.query<{ balance_fen: number }>(
      'SELECT balance_fen FROM accounts WHERE id = $1',
      [escrowAccount(packet.packetId)],
    );
    expect(rows[0]?.balance_fen).toBe(0);
    const events = await historyLength(h, packet.packetId);
    process.stdout.write(`fully claimed 100-share packet history: ${events} events\n`);
    expect(events).toBeLessThan(300);
  });

  test('when a packet expires partly opened, the openers are credited and exactly the remainder is refunded', async () => {
    await fund(h, 'bob', 1_000);
    const packet = await send(h, 'bob', { type: 'fixed', amountFen: 1_000, count: 5, expiresInSeconds: 2 });
    const signaler = signalerFor(h);
    await open(h, signaler, packet.packetId, 'carol');
    await open(h, signaler, packet.packetId, 'dave');
    await signaler.drain();
    const result = await packetResult(h, packet.packetId);
    expect(result).toMatchObject({ creditedCount: 2, creditedFen: 400, refundFen: 600 });
    expect(await balanceOf(h, 'bob')).toBe(600);
    expect(await balanceOf(h, 'carol')).toBe(200);
    await expect(open(h, signaler, packet.packetId, 'erin')).rejects.toMatchObject({
      code: ErrorCode.PacketExpired,
    });
  });

  test('a claim committed without its signal is still credited by the sweep', async () => {
    await fund(h, 'frank', 300);
    const packet = await send(h, 'frank', { type: 'random', amountFen: 300, count: 3, expiresInSeconds: 30 });
    // No signaler: the workflow never hears of these opens.
    const claims = await Promise.all(['g1', 'g2', 'g3'].map((user) => open(h, null, packet.packetId, user)));
    const result = await packetResult(h, packet.packetId);
    expect(result.creditedCount).toBe(3);
    for (const claim of claims) expect(await balanceOf(h, claim.userId)).toBe(claim.amountFen);
  });

  test('sending twice with one idempotency key pays once and returns the same packet', async () => {
    await fund(h, 'ivy', 1_000);
    const request = { type: 'random' as const, amountFen: 600, count: 3 };
    const [first, second] = await Promise.all([
      send(h, 'ivy', request, { idempotencyKey: 'k-1' }),
      send(h, 'ivy', request, { idempotencyKey: 'k-1' }),
    ]);
    expect(second.packetId).toBe(first.packetId);
    expect(await balanceOf(h, 'ivy')).toBe(400);
    const view = await h.temporal.client.workflow
      .getHandle(packetWorkflowId(first.packetId))
      .query(packetViewQuery);
    expect(view).toMatchObject({ phase: 'OPEN', totalFen: 600, creditStuck: false });
  });

  test('a failed send replayed with its key still answers insufficient funds and starts nothing', async () => {
    const attempt = () =>
      send(h, 'nobody', { type: 'random', amountFen: 100, count: 1 }, { idempotencyKey: 'k-poor' });
    await expect(attempt()).rejects.toMatchObject({ code: ErrorCode.InsufficientFunds });
    await fund(h, 'nobody', 500);
    await expect(attempt()).rejects.toMatchObject({ code: ErrorCode.InsufficientFunds });
    expect(await balanceOf(h, 'nobody')).toBe(500);
  });

  test('the workflow of a failed payment ends FAILED', async () => {
    const packetPromise = send(
      h,
      'broke',
      { type: 'random', amountFen: 100, count: 1 },
      { idempotencyKey: 'k-broke' },
    );
    await expect(packetPromise).rejects.toBeDefined();
    const { rows } = await h.db.query<{ packet_id: string }>(
      "SELECT packet_id FROM packet_requests WHERE idempotency_key = 'k-broke'",
    );
    const handle = h.temporal.client.workflow.getHandle(packetWorkflowId(rows[0]!.packet_id));
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
  });
});
