/**
 * Settlement refunds on time and leaves owed credits to the pumps (issue 24, item 2): a claim that cannot be
 * credited holds neither the sender's refund nor the packet workflow's history, and the workflow still
 * finishes when the claim is credited, whether or not the pump's "all credited" reaches it.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { PoolClient } from 'pg';
import { walletAccount, transferIds } from '../../domain/accounts';
import { creditLockedClaims } from '../../packets/store/credits';
import { claimIdOf } from '../../packets/store/openShare';
import { packetViewQuery, packetWorkflowId } from '../../saga';
import { expectAuditClean } from '../support/audit';
import { eventually } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, fund, historyLength, open, packetResult, send } from '../support/packets';

const STATEMENT_TIMEOUT_MS = 2_000;
/**
 * The history budget of a packet whose credit is owed past its expiry: the expired packet's own few dozen
 * events plus the wait for the pump's "all credited" (a timer, the signal, one more look at Postgres).
 */
const PACKET_EVENTS_MAX = 40;
type HistoryEvents = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>;
/** Production's re-check timing (workflows/packetSettle.ts RECHECK_*), so only the pump's signal ends the wait. */
const PRODUCTION_RECHECK = { baseMs: 60_000, maxMs: 80 * 60_000 };

describe('settlement with a credit owed', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({
      CREDIT_SHARDS: '1',
      // A pump batch waiting on the locked wallet holds the packet's escrow row (accounts are locked in id
      // order) until its statement times out; the refund waits at most that long.
      DATABASE_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
    });
    await h.startWorker();
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
  });

  async function refundOf(packetId: string) {
    const { rows } = await h.db.query<{ amount_fen: number; late_ms: number }>(
      `SELECT t.amount_fen, (extract(epoch FROM t.created_at - p.expires_at) * 1000)::float8 AS late_ms
       FROM transfers t JOIN packets p ON p.id = t.packet_id WHERE t.id = $1`,
      [transferIds.refund(packetId)],
    );
    return rows[0];
  }

  test('a claim whose wallet is locked across expiry: the refund lands at expiry, the credit when the lock goes', async () => {
    await fund(h, 'owed-sender', 300);
    await fund(h, 'owed-locked', 1); // the wallet row must exist to be locked
    const packet = await send(
      h,
      'owed-sender',
      { type: 'fixed', amountFen: 300, count: 3, expiresInSeconds: 3 },
      { sweep: PRODUCTION_RECHECK },
    );
    const free = await open(h, packet.packetId, 'owed-free');
    await eventually(
      async () => ((await balanceOf(h, 'owed-free')) === free.amountFen ? true : undefined),
      10_000,
      'the free claim to be credited',
    );
    const locker: PoolClient = await h.db.pool.connect();
    let released = false;
    try {
      await locker.query('SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0');
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [walletAccount('owed-locked')]);
      const owed = await open(h, packet.packetId, 'owed-locked');
      // The refund lands while the wallet is still locked, within a pump statement's timeout of expiry.
      const refund = await eventually(() => refundOf(packet.packetId), 20_000, 'the refund');
      const refundFen = 300 - free.amountFen - owed.amountFen;
      expect(refund.amount_fen).toBe(refundFen);
      process.stdout.write(`refund ${Math.round(refund.late_ms)} ms after expiry, wallet still locked\n`);
      expect(refund.late_ms).toBeLessThan(STATEMENT_TIMEOUT_MS + 3_000);
      expect(await balanceOf(h, 'owed-sender')).toBe(refundFen);
      const { rows } = await h.db.query<{ status: string; refund_fen: number; escrow_fen: number }>(
        `SELECT p.status, p.refund_fen, a.balance_fen AS escrow_fen FROM packets p
         JOIN accounts a ON a.id = 'escrow:' || p.id WHERE p.id = $1`,
        [packet.packetId],
      );
      // Closed: refunded, and the escrow holds exactly the credit still owed.
      expect(rows[0]).toEqual({ status: 'closed', refund_fen: refundFen, escrow_fen: owed.amountFen });
      const handle = h.temporal.client.workflow.getHandle(packetWorkflowId(packet.packetId));
      expect((await handle.query(packetViewQuery)).phase).toBe('CLOSED');
      await locker.query('COMMIT');
      released = true;
      expect(await packetResult(h, packet.packetId)).toEqual({
        packetId: packet.packetId,
        creditedCount: 2,
        creditedFen: free.amountFen + owed.amountFen,
        refundFen,
      });
      expect(await balanceOf(h, 'owed-locked')).toBe(1 + owed.amountFen);
      const after = await h.db.query<{ status: string }>('SELECT status FROM packets WHERE id = $1', [
        packet.packetId,
      ]);
      expect(after.rows[0]?.status).toBe('finished');
      const events = await historyLength(h, packet.packetId);
      process.stdout.write(`history of a packet settled with a credit owed: ${events} events\n`);
      expect(events).toBeLessThan(PACKET_EVENTS_MAX);
    } finally {
      if (!released) await locker.query('ROLLBACK').catch(() => undefined);
      locker.release();
    }
  }, 60_000);

  test('when an owed claim is credited by another path that marks nothing and tells nobody, the packet still finishes', async () => {
    await fund(h, 'quiet-sender', 200);
    const packet = await send(h, 'quiet-sender', {
      type: 'fixed',
      amountFen: 200,
      count: 2,
      expiresInSeconds: 2,
    });
    // Set aside in advance (claim ids are <packet>-<seq>), so the pump leaves the claim alone.
    const claimId = claimIdOf(packet.packetId, 1);
    await h.db.query(
      `INSERT INTO credit_failures (claim_id, packet_id, attempts, last_error, retry_at)
       VALUES ($1, $2, 1, 'held by the test', now() + interval '1 hour')`,
      [claimId, packet.packetId],
    );
    const owed = await open(h, packet.packetId, 'quiet-user');
    await eventually(
      async () => {
        const { rows } = await h.db.query<{ status: string }>('SELECT status FROM packets WHERE id = $1', [
          packet.packetId,
        ]);
        return rows[0]?.status === 'closed' ? true : undefined;
      },
      15_000,
      'settlement to close the packet',
    );
    // Credited by another path: nothing marks the packet or signals its workflow; the workflow's re-check
    // (FAST_SWEEP timing here) or the pump's look for lost marks finds it.
    await h.db.withTransaction((tx) =>
      creditLockedClaims(tx, [
        { id: claimId, packetId: packet.packetId, userId: 'quiet-user', amountFen: owed.amountFen },
      ]),
    );
    expect(await packetResult(h, packet.packetId)).toMatchObject({ creditedCount: 1, refundFen: 100 });
    expect(await balanceOf(h, 'quiet-user')).toBe(100);
  }, 30_000);

  /** Every run of a packet workflow, first to last, with its event count (following continue-as-new). */
  async function runsOf(packetId: string, firstRunId: string): Promise<number[]> {
    const lengths: number[] = [];
    let runId: string | undefined = firstRunId;
    while (runId !== undefined) {
      const handle = h.temporal.client.workflow.getHandle(packetWorkflowId(packetId), runId);
      const events: HistoryEvents = (await handle.fetchHistory()).events ?? [];
      lengths.push(events.length);
      runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    return lengths;
  }

  test('while settlement keeps failing and then while a credit stays owed, the workflow continues-as-new within its budget', async () => {
    const budget = 30;
    await fund(h, 'long-sender', 200);
    const packet = await send(
      h,
      'long-sender',
      { type: 'fixed', amountFen: 200, count: 2, expiresInSeconds: 2 },
      { historyMaxEvents: budget },
    );
    const handle = h.temporal.client.workflow.getHandle(packetWorkflowId(packet.packetId));
    const firstRunId = (await handle.describe()).runId;
    const claimId = claimIdOf(packet.packetId, 1);
    await h.db.query(
      `INSERT INTO credit_failures (claim_id, packet_id, attempts, last_error, retry_at)
       VALUES ($1, $2, 1, 'held by the test', now() + interval '1 hour')`,
      [claimId, packet.packetId],
    );
    const owed = await open(h, packet.packetId, 'long-user');
    // Settlement cannot post this packet's refund (as if Postgres refused it for days).
    await h.db.query(`
      CREATE FUNCTION refuse_refund() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refund refused by the test' USING ERRCODE = 'check_violation'; END $$;
      CREATE TRIGGER transfers_refuse_refund BEFORE INSERT ON transfers FOR EACH ROW
        WHEN (NEW.kind = 'refund') EXECUTE FUNCTION refuse_refund();`);
    const runsAfter = async (runs: number, what: string) =>
      eventually(
        async () => ((await runsOf(packet.packetId, firstRunId)).length >= runs ? true : undefined),
        30_000,
        what,
      );
    try {
      await runsAfter(2, 'a continue-as-new while settlement fails');
    } finally {
      await h.db.query('DROP TRIGGER transfers_refuse_refund ON transfers; DROP FUNCTION refuse_refund()');
    }
    await eventually(async () => (await refundOf(packet.packetId)) ?? undefined, 20_000, 'the refund');
    const settledRuns = (await runsOf(packet.packetId, firstRunId)).length;
    // CLOSED with the claim owed: the re-checks (FAST_SWEEP timing) fill the budget and continue-as-new.
    await runsAfter(settledRuns + 1, 'a continue-as-new while a credit is owed');
    await h.db.withTransaction((tx) =>
      creditLockedClaims(tx, [
        { id: claimId, packetId: packet.packetId, userId: 'long-user', amountFen: owed.amountFen },
      ]),
    );
    expect(await packetResult(h, packet.packetId)).toMatchObject({ creditedCount: 1, refundFen: 100 });
    const lengths = await runsOf(packet.packetId, firstRunId);
    process.stdout.write(`runs of a packet settled late with a credit owed: ${lengths.join(', ')} events\n`);
    // A run continues after the step that crossed the budget, so it ends a few events past it.
    for (const length of lengths) expect(length).toBeLessThan(budget + 15);
  }, 90_000);
});
