import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { packetViewQuery, packetWorkflowId } from '../../workflows/messages';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, fund, open, packetResult, send, signalerFor } from '../support/packets';
import { expectAuditClean } from '../support/audit';

const ROOT = resolve(__dirname, '../..');

async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function visibleWith(h: Harness, packetId: string, clause: string): Promise<boolean | undefined> {
  const query = `WorkflowId = '${packetWorkflowId(packetId)}' AND ${clause}`;
  for await (const _ of h.temporal.client.workflow.list({ query })) return true;
  return undefined;
}

describe('packet saga under faults', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ CREDIT_STUCK_AFTER_MS: '1000' });
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  test('a credit that keeps failing shows CreditStuck in visibility and clears it on recovery', async () => {
    await h.startWorker();
    await fund(h, 'stuck-sender', 500);
    const packet = await send(h, 'stuck-sender', {
      type: 'fixed',
      amountFen: 500,
      count: 2,
      expiresInSeconds: 120,
    });
    const first = await open(h, null, packet.packetId, 'stuck-a');
    // Break crediting (not opening) by hiding the table the credit wave writes through.
    await h.db.query('ALTER TABLE claims RENAME TO claims_hidden');
    try {
      const signaler = signalerFor(h);
      signaler.notify(packet.packetId, {
        claimId: first.claimId,
        userId: 'stuck-a',
        amountFen: first.amountFen,
        openedAtMs: first.openedAtMs,
      });
      await signaler.drain();
      await eventually(
        () => visibleWith(h, packet.packetId, 'CreditStuck = true'),
        20_000,
        'CreditStuck = true',
      );
      const view = await h.temporal.client.workflow
        .getHandle(packetWorkflowId(packet.packetId))
        .query(packetViewQuery);
      expect(view.creditStuck).toBe(true);
      expect(view.waiting).toEqual([
        expect.objectContaining({
          claimId: first.claimId,
          userId: 'stuck-a',
          amountFen: 250,
          lastError: expect.any(String),
        }),
      ]);
    } finally {
      await h.db.query('ALTER TABLE claims_hidden RENAME TO claims');
    }
    await eventually(
      () => visibleWith(h, packet.packetId, 'CreditStuck = false AND PendingCredits = 0'),
      20_000,
      'CreditStuck cleared',
    );
    expect(await balanceOf(h, 'stuck-a')).toBe(250);
    await open(h, signalerFor(h), packet.packetId, 'stuck-b');
    expect(await packetResult(h, packet.packetId)).toMatchObject({ creditedCount: 2, refundFen: 0 });
  }, 60_000);

  test('a worker killed in the middle of a credit wave, then restarted, credits each claim exactly once', async () => {
    const worker = spawnWorker(h);
    try {
      await fund(h, 'kill-sender', 1_000);
      const packet = await send(h, 'kill-sender', {
        type: 'random',
        amountFen: 1_000,
        count: 10,
        expiresInSeconds: 120,
      });
      // Hold the escrow row before anyone opens (opens never touch it), so the first credit wave blocks
      // inside its transaction; then kill the worker mid-wave.
      const blocker = await h.db.pool.connect();
      let claims: Awaited<ReturnType<typeof open>>[] = [];
      try {
        await blocker.query('BEGIN');
        await blocker.query(`SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE`, [`escrow:${packet.packetId}`]);
        const signaler = signalerFor(h);
        claims = await Promise.all(
          Array.from({ length: 10 }, (_, i) => open(h, signaler, packet.packetId, `k${i}`)),
        );
        await signaler.drain();
        await eventually(
          async () => {
            const { rows } = await h.db.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND application_name = 'redpacket-worker'
                 AND datname = current_database()`,
            );
            return (rows[0]?.n ?? 0) > 0 ? true : undefined;
          },
          90_000,
          'the credit wave to block on the escrow row',
        );
        worker.kill('SIGKILL');
        await new Promise((r) => worker.once('exit', r));
      } finally {
        await blocker.query('ROLLBACK');
        blocker.release();
      }
      await h.startWorker();
      const result = await packetResult(h, packet.packetId);
      expect(result.creditedCount).toBe(10);
      const { rows } = await h.db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM transfers WHERE kind = 'credit' AND packet_id = $1`,
        [packet.packetId],
      );
      expect(rows[0]?.n).toBe(10);
      for (const claim of claims) expect(await balanceOf(h, claim.userId)).toBe(claim.amountFen);
    } finally {
      if (worker.exitCode === null && worker.signalCode === null) worker.kill('SIGKILL');
    }
  }, 180_000);
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
  };
  return spawn(process.execPath, ['--import', 'tsx', 'workers/main.ts'], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}
