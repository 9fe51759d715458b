/**
 * Faults on the credit path, against the real dev server, Postgres and Redis: a poison claim is set aside
 * and reported as CreditStuck while the rest of its batch commits, and a worker killed in the middle of a
 * batch leaves every claim credited exactly once after a restart. The audit runs after each test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { openShare } from '../../packets/store/openShare';
import { packetViewQuery, packetWorkflowId } from '../../saga';
import { expectAuditClean } from '../support/audit';
import { allCreditedWithin, creditsPerClaim, eventually, uncredited } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, fund, packetResult, send } from '../support/packets';

const ROOT = resolve(__dirname, '../..');
const STUCK_AFTER_MS = 1_000;

async function visibleWith(h: Harness, packetId: string, clause: string): Promise<true | undefined> {
  const query = `WorkflowId = '${packetWorkflowId(packetId)}' AND ${clause}`;
  for await (const _ of h.temporal.client.workflow.list({ query })) return true;
  return undefined;
}

describe('credit path under faults', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ CREDIT_STUCK_AFTER_MS: String(STUCK_AFTER_MS), CREDIT_SHARDS: '1' });
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  test('a claim that cannot be credited is set aside and shows CreditStuck while its batch commits, and clears on recovery', async () => {
    await h.startWorker();
    await fund(h, 'poison-sender', 900);
    const poisoned = await send(h, 'poison-sender', { type: 'fixed', amountFen: 600, count: 3 });
    const healthy = await send(h, 'poison-sender', { type: 'fixed', amountFen: 300, count: 3 });
    // A constraint that refuses the credit of one claim, the way a bad row would.
    await h.db.query(`
      CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.claim_id IN (SELECT id FROM claims WHERE user_id = 'poison-victim') THEN
          RAISE EXCEPTION 'credit refused for a test' USING ERRCODE = 'check_violation';
        END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER transfers_refuse_poison BEFORE INSERT ON transfers FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
    let victimClaimId = '';
    try {
      const startedMs = Date.now();
      const victim = await openShare(h.db, poisoned.packetId, 'poison-victim');
      victimClaimId = victim.claimId;
      await Promise.all([
        openShare(h.db, poisoned.packetId, 'poison-a'),
        openShare(h.db, poisoned.packetId, 'poison-b'),
        ...['h1', 'h2', 'h3'].map((user) => openShare(h.db, healthy.packetId, user)),
      ]);
      // The other claims of the batch and of the shard are credited meanwhile; the healthy packet finishes.
      expect(await packetResult(h, healthy.packetId)).toMatchObject({ creditedCount: 3, refundFen: 0 });
      await eventually(
        async () => ((await uncredited(h, [poisoned.packetId])) === 1 ? true : undefined),
        10_000,
        'every claim but the poison credited',
      );
      await eventually(
        () => visibleWith(h, poisoned.packetId, 'CreditStuck = true'),
        STUCK_AFTER_MS + 10_000,
        'CreditStuck = true',
        200,
      );
      process.stdout.write(`CreditStuck visible ${Date.now() - startedMs} ms after the open\n`);
      const view = await h.temporal.client.workflow
        .getHandle(packetWorkflowId(poisoned.packetId))
        .query(packetViewQuery);
      expect(view.creditStuck).toBe(true);
      expect(view.waiting).toEqual([
        expect.objectContaining({
          claimId: victim.claimId,
          userId: 'poison-victim',
          amountFen: 200,
          sinceMs: expect.any(Number),
          lastError: expect.stringContaining('credit refused'),
        }),
      ]);
      expect(await balanceOf(h, 'poison-a')).toBe(200);
    } finally {
      await h.db.query('DROP TRIGGER transfers_refuse_poison ON transfers; DROP FUNCTION refuse_poison()');
    }
    // Recovery: the set-aside claim is retried with backoff, credited, and the packet hears it.
    expect(await packetResult(h, poisoned.packetId)).toMatchObject({ creditedCount: 3, refundFen: 0 });
    await eventually(
      () => visibleWith(h, poisoned.packetId, 'CreditStuck = false'),
      10_000,
      'CreditStuck cleared',
      200,
    );
    expect(await balanceOf(h, 'poison-victim')).toBe(200);
    const { rows } = await h.db.query('SELECT 1 FROM credit_failures WHERE claim_id = $1', [victimClaimId]);
    expect(rows).toHaveLength(0);
  }, 90_000);

  test('a worker killed in the middle of a credit batch, then restarted, credits each claim exactly once', async () => {
    await h.startWorker();
    await fund(h, 'kill-sender', 1_000);
    const packet = await send(h, 'kill-sender', {
      type: 'random',
      amountFen: 1_000,
      count: 10,
      expiresInSeconds: 120,
    });
    // Only the spawned worker runs now, so it is the one that picks up the pump's next run.
    await h.stopWorkers();
    const worker = spawnWorker(h);
    try {
      // Hold the escrow row (opens never touch it), so the pump's batch blocks inside its transaction,
      // holding the claims; then kill the worker mid-batch.
      const blocker = await h.db.pool.connect();
      try {
        await blocker.query('BEGIN');
        await blocker.query('SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', [`escrow:${packet.packetId}`]);
        await Promise.all(Array.from({ length: 10 }, (_, i) => openShare(h.db, packet.packetId, `k${i}`)));
        await eventually(
          async () => {
            const { rows } = await h.db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'
                 AND application_name = 'redpacket-worker' AND datname = current_database()`,
            );
            return (rows[0]?.n ?? 0) > 0 ? true : undefined;
          },
          60_000,
          'the credit batch to block on the escrow row',
        );
        worker.kill('SIGKILL');
        await new Promise((r) => worker.once('exit', r));
      } finally {
        await blocker.query('ROLLBACK');
        blocker.release();
      }
      await h.startWorker();
      // The killed run is retried once its heartbeat times out (10 s).
      await allCreditedWithin(h, [packet.packetId], 40_000);
      const perClaim = await creditsPerClaim(h, [packet.packetId]);
      expect([...perClaim.values()]).toEqual(Array(10).fill(1));
      expect(await packetResult(h, packet.packetId)).toMatchObject({ creditedCount: 10, refundFen: 0 });
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    }
  }, 120_000);
});

function spawnWorker(h: Harness): ChildProcess {
  const env = {
    ...process.env,
    NODE_ENV: 'test',
    LOG_LEVEL: 'warn',
    DATABASE_URL: h.config.database.url,
    DATABASE_SCHEMA: h.config.database.schema,
    REDIS_KEY_PREFIX: h.config.redis.keyPrefix,
    TEMPORAL_ADDRESS: h.config.temporal.address,
    TEMPORAL_TASK_QUEUE: h.config.temporal.taskQueue,
    CREDIT_PUMP_ID_PREFIX: h.config.credit.pumpIdPrefix,
    CREDIT_SHARDS: String(h.config.credit.shards),
    CREDIT_STUCK_AFTER_MS: String(h.config.credit.stuckAfterMs),
    CREDIT_FINISH_SIGNAL_MIN_SHARES: String(h.config.credit.finishSignalMinShares),
    // Test files run in parallel: no fixed port.
    WORKER_METRICS_PORT: '0',
  };
  return spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
