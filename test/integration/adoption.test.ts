/**
 * Adoption of orphaned packets (issue 25) on the test run's Temporal server: which packets get a workflow
 * back, that a running workflow is never doubled, that a closed one runs again only while its packet holds
 * escrow, and that an undecided payment is decided as the fence decides it.
 */
import { AuditCheck, runAudit } from '../../ledger/audit';
import { payOnce } from '../../activities/payment';
import { adoptPacket, type AdoptDeps } from '../../packets/adopt';
import { ErrorCode } from '../../domain/errors';
import { packetWorkflowId } from '../../saga';
import { expectAuditClean } from '../support/audit';
import { reconciler, refundTiming, runsOf } from '../support/adoption';
import { allCreditedWithin, payDirectly, uniqueUser } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, fund, open, packetResult, send } from '../support/packets';

describe('adoption of orphaned packets', () => {
  let w: Harness;
  let deps: AdoptDeps;
  beforeAll(async () => {
    w = await createHarness();
    await w.startWorker();
    deps = {
      db: w.db,
      client: w.temporal.client,
      taskQueue: w.config.temporal.taskQueue,
      creditStuckAfterMs: w.config.credit.stuckAfterMs,
    };
  });
  afterAll(async () => {
    await w.close();
  });

  const handleOf = (packetId: string) => w.temporal.client.workflow.getHandle(packetWorkflowId(packetId));

  test('a paid packet with no workflow is adopted once by two reconcilers at once, and refunded exactly at its expiry', async () => {
    const sender = uniqueUser('ad-s');
    const packetId = await payDirectly(w, sender, {
      type: 'random',
      totalFen: 900,
      count: 3,
      expiresInSeconds: 3,
    });
    const claim = await open(w, packetId, uniqueUser('ad-r'));
    const before = await runAudit(w.db, { temporal: w.temporal.client });
    expect(before.violations).toContainEqual({
      check: AuditCheck.EscrowHasLiveWorkflow,
      detail: expect.stringContaining(`packet ${packetId} (open)`),
    });

    const [first, second] = await Promise.all([reconciler(w).adopt(), reconciler(w).adopt()]);
    expect([...(first?.adopted ?? []), ...(second?.adopted ?? [])]).toEqual([packetId]);
    expect([...(first?.failed ?? []), ...(second?.failed ?? [])]).toEqual([]);

    const result = await packetResult(w, packetId);
    expect(result.refundFen).toBe(900 - claim.amountFen);
    const refund = await refundTiming(w, packetId);
    expect(refund?.refundFen).toBe(900 - claim.amountFen);
    expect(refund?.refundedAtMs).toBeGreaterThanOrEqual(refund?.expiresAtMs ?? Infinity);
    expect(await balanceOf(w, sender)).toBe(900 - claim.amountFen);
    expect(await runsOf(w, packetId)).toHaveLength(1);
    await allCreditedWithin(w, [packetId], 10_000);
    await expectAuditClean(w.db, { temporal: w.temporal.client });
  });

  test('when the original workflow is running (a check that missed it), adoption starts nothing', async () => {
    await fund(w, 'ad-live', 500);
    const live = await send(w, 'ad-live', { type: 'fixed', amountFen: 500, count: 5 });
    const original = await handleOf(live.packetId).describe();

    await expect(adoptPacket(deps, live.packetId)).resolves.toBe('running');
    const after = await handleOf(live.packetId).describe();
    expect({ runId: after.runId, status: after.status.name }).toEqual({
      runId: original.runId,
      status: 'RUNNING',
    });
    expect(await runsOf(w, live.packetId)).toEqual([original.runId]);
    expect((await reconciler(w).adopt()).adopted).not.toContain(live.packetId);
  });

  test('a workflow that closed while its packet holds escrow runs again, once; a settled one does not', async () => {
    await fund(w, 'ad-closed', 1_200);
    const strandedRequest = { type: 'fixed', amountFen: 600, count: 3, expiresInSeconds: 3 } as const;
    const idempotencyKey = `ad-closed-${uniqueUser('')}`;
    const stranded = await send(w, 'ad-closed', strandedRequest, { idempotencyKey });
    const claim = await open(w, stranded.packetId, 'ad-closed-r');
    const settled = await send(w, 'ad-closed', {
      type: 'personal',
      amountFen: 600,
      count: 1,
      recipientId: 'ad-p',
    });
    await open(w, settled.packetId, 'ad-p');
    await packetResult(w, settled.packetId);
    const settledRun = (await handleOf(settled.packetId).describe()).runId;
    await handleOf(stranded.packetId).terminate('adoption test: the workflow is lost');

    const outcomes = await Promise.all([
      adoptPacket(deps, stranded.packetId),
      adoptPacket(deps, stranded.packetId),
    ]);
    expect(outcomes.sort()).toEqual(['adopted', 'running']);
    await expect(adoptPacket(deps, settled.packetId)).resolves.toBe('settled');
    // A late retry of the send reaches the adopted workflow, which answers with the packet it carries.
    const retried = await send(w, 'ad-closed', strandedRequest, { idempotencyKey });
    expect(retried.packetId).toBe(stranded.packetId);
    const { rows: payments } = await w.db.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM transfers WHERE kind = 'pay' AND packet_id = $1`,
      [stranded.packetId],
    );
    expect(payments).toEqual([{ n: 1 }]);

    const result = await packetResult(w, stranded.packetId);
    expect(result.refundFen).toBe(600 - claim.amountFen);
    expect((await handleOf(settled.packetId).describe()).runId).toBe(settledRun);
    expect(await runsOf(w, settled.packetId)).toHaveLength(1);
    await allCreditedWithin(w, [stranded.packetId], 10_000);
    expect(await balanceOf(w, 'ad-closed')).toBe(600 - claim.amountFen);
    await expectAuditClean(w.db, { temporal: w.temporal.client });
  });

  test('a payment nobody decided and that paid nothing is refused, and a late attempt of it obeys', async () => {
    const packetId = `undecided-${uniqueUser('')}`;
    await w.db.query(`INSERT INTO payment_decisions (packet_id, fingerprint) VALUES ($1, 'fp-undecided')`, [
      packetId,
    ]);
    const ledgerBefore = await w.ledgerTotals();

    expect((await reconciler(w).adopt()).resolvedPayments).toEqual([packetId]);
    const { rows } = await w.db.query<{ outcome: string }>(
      'SELECT outcome FROM payment_decisions WHERE packet_id = $1',
      [packetId],
    );
    expect(rows).toEqual([{ outcome: 'refused' }]);
    await fund(w, 'ad-late', 100);
    const late = payOnce(w.db, {
      packetId,
      senderId: 'ad-late',
      fingerprint: 'fp-undecided',
      type: 'fixed',
      totalFen: 100,
      count: 1,
      greeting: null,
      recipientId: null,
      audience: null,
      expiresAtMs: Date.now() + 60_000,
      creditStuckAfterMs: w.config.credit.stuckAfterMs,
    });
    await expect(late).rejects.toMatchObject({ type: ErrorCode.InsufficientFunds });
    expect((await w.ledgerTotals()).transferCount).toBe(ledgerBefore.transferCount + 1); // the deposit only
    expect((await reconciler(w).adopt()).resolvedPayments).toEqual([]);
  });
});
