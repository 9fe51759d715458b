/**
 * Retry now (issue 31), against the real dev server, Postgres and Redis: a claim set aside behind a wallet row
 * another session holds, its next retry minutes away, is credited within a second of the operator's
 * `retryNow` update once the row is released; exactly once, its packet's CreditStuck cleared, the audit
 * clean. One packet's request leaves another packet's set-aside claim where it was; a request for all
 * reaches every shard's pump. Bad requests are answered with what is wrong.
 */
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { packetShardHash } from '../../packets/store/creditFailures';
import { shardOfHash } from '../../packets/store/credits';
import { openShare } from '../../packets/store/openShare';
import {
  creditPumpViewQuery,
  creditPumpWorkflowId,
  packetViewQuery,
  packetWorkflowId,
  retryNowUpdate,
  type RetryNowInput,
} from '../../saga';
import { describeAnswers, retryCredits } from '../../scripts/lib/retryCredits';
import { expectAuditClean } from '../support/audit';
import { creditsPerClaim, eventually, holdAccountRow } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { getRunState } from '../support/runState';
import { balanceOf, fund, send } from '../support/packets';

const SHARDS = 2;
const STUCK_AFTER_MS = 500;
const LOCK_TIMEOUT_MS = 300;
/** Long, so that only the retry-now wake-up (not a poll) can explain a credit within a second. */
const POLL_MS = 5_000;
/** The bound from the operator's request to the credit. */
const RETRY_TO_CREDIT_MAX_MS = 1_000;

describe('retry now', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({
      CREDIT_SHARDS: String(SHARDS),
      CREDIT_POLL_INTERVAL_MS: String(POLL_MS),
      CREDIT_STUCK_AFTER_MS: String(STUCK_AFTER_MS),
      CREDIT_LOCK_TIMEOUT_MS: String(LOCK_TIMEOUT_MS),
    });
    await h.startWorker();
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
  });

  const shardOf = async (packetId: string): Promise<number> => {
    const hash = await packetShardHash(h.db, packetId);
    if (hash === undefined) throw new Error(`no packet ${packetId}`);
    return shardOfHash(hash, SHARDS);
  };
  const pump = (shard: number) =>
    h.temporal.client.workflow.getHandle(creditPumpWorkflowId(h.config.credit.pumpIdPrefix, shard));
  const retryNow = (shard: number, input: unknown) =>
    pump(shard).executeUpdate(retryNowUpdate, { args: [input as RetryNowInput] });

  /** A sent packet of two shares in the given shard (sends until one lands there), funded recipients. */
  async function packetInShard(shard: number, tag: string): Promise<string> {
    await fund(h, `rn-sender-${tag}`, 20 * 200);
    for (let i = 0; i < 20; i++) {
      const { packetId } = await send(h, `rn-sender-${tag}`, { type: 'fixed', amountFen: 200, count: 2 });
      if ((await shardOf(packetId)) === shard) return packetId;
    }
    throw new Error(`no packet landed in shard ${shard} in 20 sends`);
  }

  interface HeldClaim {
    packetId: string;
    claimId: string;
    userId: string;
    release(): Promise<void>;
  }

  /**
   * Opens a share for a user whose wallet row another session holds, waits until the pump has set the claim
   * aside and flagged its packet CreditStuck, then pushes its next retry ten minutes away, as a claim that
   * has failed for a while would have it. The row stays held until `release`.
   */
  async function setAsideFarOff(packetId: string, tag: string): Promise<HeldClaim> {
    const userId = `rn-user-${tag}`;
    await fund(h, userId, 1);
    const held = await holdAccountRow(h.db, `wallet:${userId}`);
    const claim = await openShare(h.db, packetId, userId);
    await eventually(
      async () => (await retryAt(claim.claimId)) ?? undefined,
      10_000,
      'the claim behind the held row to be set aside',
    );
    await eventually(
      async () => {
        const view = await h.temporal.client.workflow
          .getHandle(packetWorkflowId(packetId))
          .query(packetViewQuery);
        return view.creditStuck ? true : undefined;
      },
      10_000,
      'CreditStuck on the packet',
      100,
    );
    // Twice, half a second apart: a retry already under way when the first write landed records its failure
    // with a short backoff over it; none can start after it, so the second write is the last.
    for (let i = 0; i < 2; i++) {
      await h.db.query(
        `UPDATE credit_failures SET retry_at = clock_timestamp() + interval '10 minutes', attempts = 9
         WHERE claim_id = $1`,
        [claim.claimId],
      );
      await new Promise((r) => setTimeout(r, 500));
    }
    return {
      packetId,
      claimId: claim.claimId,
      userId,
      release: () => held.release(),
    };
  }

  /** The claim's next retry (ms since the epoch), or null when it is not set aside. */
  async function retryAt(claimId: string): Promise<number | null> {
    const { rows } = await h.db.query<{ at: number }>(
      'SELECT (extract(epoch FROM retry_at) * 1000)::float8 AS at FROM credit_failures WHERE claim_id = $1',
      [claimId],
    );
    return rows[0]?.at ?? null;
  }

  async function creditedAtMs(claimId: string): Promise<number | null> {
    const { rows } = await h.db.query<{ at: number | null }>(
      'SELECT (extract(epoch FROM credited_at) * 1000)::float8 AS at FROM claims WHERE id = $1',
      [claimId],
    );
    return rows[0]?.at ?? null;
  }

  async function expectStuckCleared(packetId: string): Promise<void> {
    const handle = h.temporal.client.workflow.getHandle(packetWorkflowId(packetId));
    const view = await eventually(
      async () => {
        const now = await handle.query(packetViewQuery);
        return now.creditStuck ? undefined : now;
      },
      5_000,
      'CreditStuck cleared in the packet view',
    );
    expect(view.waiting).toEqual([]);
    await eventually(
      async () => {
        for await (const _ of h.temporal.client.workflow.list({
          query: `WorkflowId = '${packetWorkflowId(packetId)}' AND CreditStuck = false`,
        }))
          return true;
        return undefined;
      },
      10_000,
      'CreditStuck = false in the visibility store',
      200,
    );
  }

  test('a claim set aside with a long backoff is credited within a second of retryNow once its row is free', async () => {
    const shard = 0;
    const held = await setAsideFarOff(await packetInShard(shard, 'a'), 'a');
    await held.release();
    // The cause is fixed, but the claim waits out its backoff: nothing happens by itself.
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await creditedAtMs(held.claimId)).toBeNull();

    const eventsBefore = (await pump(shard).describe()).historyLength;
    const askedAtMs = Date.now();
    const outcome = await retryNow(shard, { packetId: held.packetId });
    const answeredMs = Date.now() - askedAtMs;
    const events = (await pump(shard).describe()).historyLength - eventsBefore;
    const credited = await creditedAtMs(held.claimId);
    expect(credited).not.toBeNull();
    const latencyMs = (credited ?? 0) - askedAtMs;
    process.stdout.write(
      `retryNow -> credited in ${Math.round(latencyMs)} ms; the update answered in ${answeredMs} ms ` +
        `and added ${events} events to the pump's history\n`,
    );
    expect(latencyMs).toBeLessThan(RETRY_TO_CREDIT_MAX_MS);
    expect(outcome).toMatchObject({
      shard,
      packetId: held.packetId,
      madeDue: 1,
      credited: 1,
      failedAgain: 0,
      stillDue: 0,
      lastError: null,
    });
    expect([...(await creditsPerClaim(h, [held.packetId])).values()]).toEqual([1]);
    expect(await balanceOf(h, held.userId)).toBe(1 + 100);
    await expectStuckCleared(held.packetId);

    // The pump keeps the request and its outcome in its view and its current details.
    const view = await pump(shard).query(creditPumpViewQuery);
    expect(view.lastRetryNow).toMatchObject({ packetId: held.packetId, error: null, outcome });
    const metadata = await pump(shard).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
    expect(metadata.currentDetails).toContain(
      `for packet ${held.packetId}: 1 made due, 1 credited, 0 failed again, 0 still due`,
    );
  }, 90_000);

  test('asked while the row is still held, the claim fails again, says why, and its backoff starts over', async () => {
    const held = await setAsideFarOff(await packetInShard(1, 'e'), 'e');
    let released = false;
    try {
      const deps = { client: h.temporal.client, db: h.db, credit: h.config.credit, cells: h.config.cells };
      const answers = await retryCredits(deps, held.packetId);
      expect(answers).toEqual([
        expect.objectContaining({
          shard: 1,
          outcome: expect.objectContaining({
            madeDue: 1,
            credited: 0,
            failedAgain: 1,
            stillDue: 0,
            lastError: expect.stringContaining('lock timeout'),
          }),
        }),
      ]);
      expect(describeAnswers(answers).exitCode).toBe(2);
      // Its next retry is seconds away, not the ten minutes it had: the second failure's backoff.
      expect((await retryAt(held.claimId)) ?? 0).toBeLessThan(Date.now() + 5_000);
      await held.release();
      released = true;
      await eventually(
        async () => ((await creditedAtMs(held.claimId)) !== null ? true : undefined),
        8_000,
        'the claim credited by its own next retry',
      );
      await expectStuckCleared(held.packetId);
    } finally {
      if (!released) await held.release();
    }
  }, 90_000);

  test("one packet's request leaves another packet's claim set aside; a request for all reaches every shard", async () => {
    const one = await setAsideFarOff(await packetInShard(0, 'b'), 'b');
    const other = await setAsideFarOff(await packetInShard(1, 'c'), 'c');
    await Promise.all([one.release(), other.release()]);
    const otherRetryAt = await retryAt(other.claimId);
    const deps = { client: h.temporal.client, db: h.db, credit: h.config.credit, cells: h.config.cells };

    const answers = await retryCredits(deps, one.packetId);
    expect(answers).toEqual([
      expect.objectContaining({
        shard: 0,
        outcome: expect.objectContaining({ madeDue: 1, credited: 1, stillDue: 0 }),
      }),
    ]);
    expect(describeAnswers(answers).exitCode).toBe(0);
    expect(await creditedAtMs(one.claimId)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(await creditedAtMs(other.claimId)).toBeNull();
    expect(await retryAt(other.claimId)).toBe(otherRetryAt);

    const all = await retryCredits(deps);
    expect(all.map((answer) => [answer.shard, answer.outcome?.madeDue, answer.outcome?.credited])).toEqual([
      [0, 0, 0],
      [1, 1, 1],
    ]);
    const { lines, exitCode } = describeAnswers(all);
    expect(exitCode).toBe(0);
    expect(lines).toContain('total: 1 made due, 1 credited, 0 failed again, 0 still due');
    expect(await creditedAtMs(other.claimId)).not.toBeNull();
    expect([...(await creditsPerClaim(h, [one.packetId, other.packetId])).values()]).toEqual([1, 1]);
    await expectStuckCleared(one.packetId);
    await expectStuckCleared(other.packetId);
  }, 120_000);

  test('a bad request is answered with what is wrong, and moves nothing', async () => {
    const packetId = await packetInShard(1, 'd');
    const failure = async (shard: number, input: unknown): Promise<string> => {
      const err: unknown = await retryNow(shard, input).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
      return (err as WorkflowUpdateFailedError).cause?.message ?? '';
    };
    // Refused by the validator, before anything reaches the pump's history.
    expect(await failure(0, { packetId: 'not a packet id!' })).toMatch(
      /"not a packet id!" is not a packet id/,
    );
    expect(await failure(0, { packetID: packetId })).toMatch(/unknown key "packetID"/);
    expect(await failure(0, 'all')).toMatch(/retryNow takes \{\}/);
    // Refused by the activity, which knows the packets and the shards.
    expect(await failure(0, { packetId: 'nosuchpacket' })).toBe('no packet nosuchpacket in this cell');
    expect(await failure(1, { packetId: packetWorkflowId(packetId) })).toMatch(
      /without the "packet-" of its workflow id/,
    );
    expect(await failure(0, { packetId })).toBe(
      `packet ${packetId} is in shard 1 of 2: ask ${creditPumpWorkflowId(h.config.credit.pumpIdPrefix, 1)}, ` +
        'not this pump (shard 0)',
    );
    const view = await pump(0).query(creditPumpViewQuery);
    expect(view.lastRetryNow).toMatchObject({ packetId, error: expect.stringContaining('is in shard 1') });
    // The CLI refuses a malformed id before it asks anyone; an empty request (the UI's) means the whole shard.
    const deps = { client: h.temporal.client, db: h.db, credit: h.config.credit, cells: h.config.cells };
    await expect(retryCredits(deps, 'bad id')).rejects.toThrow('"bad id" is not a packet id');
    await expect(
      pump(1).executeUpdate(retryNowUpdate, { args: [] as unknown as [RetryNowInput] }),
    ).resolves.toMatchObject({ shard: 1, packetId: null, madeDue: 0 });
  }, 90_000);

  test("the pumps' histories, updates and all, replay against today's workflow code", async () => {
    for (let shard = 0; shard < SHARDS; shard++) {
      const history = await pump(shard).fetchHistory();
      const updates = (history.events ?? []).filter(
        (event) => event.workflowExecutionUpdateCompletedEventAttributes,
      );
      expect(updates.length).toBeGreaterThan(0);
      await Worker.runReplayHistory(
        { workflowBundle: { codePath: getRunState().bundlePath }, replayName: `retry-now-${shard}` },
        history,
      );
    }
  }, 60_000);
});
