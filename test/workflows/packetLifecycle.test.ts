import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { DomainError, ErrorCode } from '../../domain/errors';
import { escrowAccount } from '../../domain/accounts';
import { packetWorkflowId, packetViewQuery } from '../../saga';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, fund, historyLength, open, packetResult, send } from '../support/packets';
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
    const before = await h.ledgerTotals();
    const attempt = send(h, 'poor', { type: 'random', amountFen: 100, count: 2 });
    await expectRefusal(attempt, ErrorCode.InsufficientFunds);
    expect(await packetsOf(h, 'poor')).toEqual([]);
    expect(await balanceOf(h, 'poor')).toBe(50);
    expect(await h.ledgerTotals()).toEqual(before);
  });

  test('when every share of a 100-share packet is opened, each claim is credited once and the workflow completes within its history budget', async () => {
    await fund(h, 'alice', 20_000);
    const packet = await send(h, 'alice', { type: 'random', amountFen: 20_000, count: 100 });
    expect(packet).toMatchObject({ status: 'open', totalFen: 20_000, count: 100, remainingCount: 100 });
    expect(await balanceOf(h, 'alice')).toBe(0);

    const users = Array.from({ length: 100 }, (_, i) => `u${i}`);
    const claims = await Promise.all(users.map((user) => open(h, packet.packetId, user)));
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
    await open(h, packet.packetId, 'carol');
    await open(h, packet.packetId, 'dave');
    const result = await packetResult(h, packet.packetId);
    expect(result).toMatchObject({ creditedCount: 2, creditedFen: 400, refundFen: 600 });
    expect(await balanceOf(h, 'bob')).toBe(600);
    expect(await balanceOf(h, 'carol')).toBe(200);
    await expect(open(h, packet.packetId, 'erin')).rejects.toMatchObject({
      code: ErrorCode.PacketExpired,
    });
  });

  test('claims committed without any signal to the workflow are credited by the pumps', async () => {
    await fund(h, 'frank', 300);
    const packet = await send(h, 'frank', { type: 'random', amountFen: 300, count: 3, expiresInSeconds: 30 });
    const claims = await Promise.all(['g1', 'g2', 'g3'].map((user) => open(h, packet.packetId, user)));
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
    const unfunded = await h.ledgerTotals();
    await expectRefusal(attempt(), ErrorCode.InsufficientFunds);
    expect(await h.ledgerTotals()).toEqual(unfunded);
    await fund(h, 'nobody', 500);
    const before = await h.ledgerTotals();
    await expectRefusal(attempt(), ErrorCode.InsufficientFunds);
    expect(await balanceOf(h, 'nobody')).toBe(500);
    expect(await packetsOf(h, 'nobody')).toEqual([]);
    expect(await h.ledgerTotals()).toEqual(before);
  });

  test('the workflow of a failed payment ends FAILED with the insufficient-funds failure, and nothing is written', async () => {
    const before = await h.ledgerTotals();
    const packetPromise = send(
      h,
      'broke',
      { type: 'random', amountFen: 100, count: 1 },
      { idempotencyKey: 'k-broke' },
    );
    await expectRefusal(packetPromise, ErrorCode.InsufficientFunds);
    const { rows } = await h.db.query<{ packet_id: string }>(
      "SELECT packet_id FROM packet_requests WHERE idempotency_key = 'k-broke'",
    );
    const packetId = rows[0]!.packet_id;
    const failure = await h.temporal.client.workflow
      .getHandle(packetWorkflowId(packetId))
      .result()
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toBeInstanceOf(ApplicationFailure);
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: ErrorCode.InsufficientFunds });
    expect(await packetsOf(h, 'broke')).toEqual([]);
    expect(await balanceOf(h, 'broke')).toBe(0);
    expect(await h.ledgerTotals()).toEqual(before);
  });
});

/** A send refused for a business reason: the typed DomainError with this code, never a timeout or a 5xx. */
async function expectRefusal(attempt: Promise<unknown>, code: ErrorCode): Promise<void> {
  const refusal = await attempt.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(refusal).toBeInstanceOf(DomainError);
  expect(refusal).toMatchObject({ code });
}

async function packetsOf(h: Harness, senderId: string): Promise<string[]> {
  const { rows } = await h.db.query<{ id: string }>('SELECT id FROM packets WHERE sender_id = $1', [
    senderId,
  ]);
  return rows.map((row) => row.id);
}
