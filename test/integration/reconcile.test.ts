/**
 * The reconciler on its schedule (docs/reconciliation.md): damage injected into a live test schema is reported
 * by the next scheduled run with its ids (report, query, search attribute, gauge); gates and detail caches
 * are healed and the report says which; once the damage is gone, the next run reports 0 and the audit passes.
 */
import { createActivities } from '../../activities';
import { AuditCheck } from '../../ledger/audit';
import { GATE_GRACE_MS } from '../../packets/gate/gate';
import {
  AuditViolationsKey,
  HealthCheck,
  RECONCILE_WORKFLOW_TYPE,
  reconcileReportQuery,
  reconcileScheduleId,
  packetWorkflowId,
} from '../../saga';
import { createWorkerMetrics } from '../../workers/metrics';
import { ensureReconcileSchedule } from '../../workers/reconcileSchedule';
import { expectAuditClean } from '../support/audit';
import { buildHonestBooks, P3, SENDER } from '../support/auditBooks';
import { createHarness, type Harness } from '../support/harness';
import { packetInput } from '../support/ledgerFixtures';
import { awaitScheduledRun, linesOf } from '../support/reconcile';

const P4 = 'p4';
const ROGUE_CLAIM = 'p3-9';

describe('reconciler', () => {
  let h: Harness;
  const metrics = createWorkerMetrics();
  const gaugeOf = async (check: string) =>
    (await metrics.auditViolations.get()).values.find((value) => value.labels.check === check)?.value;
  const repairsOf = async (kind: string) =>
    (await metrics.repairs.get()).values.find((value) => value.labels.kind === kind)?.value ?? 0;

  beforeAll(async () => {
    h = await createHarness({ RECONCILE_INTERVAL_MS: '1000', CREDIT_STUCK_AFTER_MS: '500' });
    await buildHonestBooks(h);
    const activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
    await activities.payPacket(packetInput({ packetId: P4, senderId: SENDER, totalFen: 300, shareCount: 3 }));
    await h.startWorker(undefined, { reconcile: { settings: h.config.reconcile, metrics } });
    expect(await ensureReconcileSchedule(h.temporal.client, h.config)).toBe('created');
  });
  afterAll(async () => {
    await h.temporal.client.schedule.getHandle(reconcileScheduleId(h.config.temporal.taskQueue)).delete();
    await h.close();
  });

  test('injected damage is reported with its ids, gates and caches are healed, and a clean run reports 0', async () => {
    const { client } = h.temporal;
    const { keys } = h.redis;
    const taskQueue = h.config.temporal.taskQueue;
    // A transfer that breaks two balances, a claim over its packet's total (whose credit then fails and is
    // set aside), a gate offering shares Postgres has not (P3's, armed before its two opens) without a TTL,
    // a stale cached detail, and a half gate. P3 and P4 were paid outside any workflow: escrow without one.
    await h.db.query(`INSERT INTO transfers (day, id, kind, debit_account_id, credit_account_id, amount_fen)
                      VALUES (transfer_day('deposit:rogue'), 'deposit:rogue', 'deposit', 'external:funding', 'wallet:a', 7)`);
    await h.db.query(`INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen)
                      VALUES (day_of_id('${P3}'), '${ROGUE_CLAIM}', '${P3}', 'z', 9, 5000)`);
    await h.redis.client.persist(keys.gate(P3));
    await h.redis.client.set(
      keys.detail(P3),
      JSON.stringify({ packet: { status: 'open', remainingCount: 5 } }),
      'PX',
      600_000,
    );
    await h.redis.client.unlink(keys.gate(P4));
    await h.redis.client.hset(keys.gate(P4), 'remaining', 2);
    const injectedMs = Date.now();

    const { workflowId, report } = await awaitScheduledRun(client, taskQueue, injectedMs, (r) =>
      [AuditCheck.BalanceEqualsTransfers, AuditCheck.ClaimsWithinTotal, HealthCheck.CreditStuck].every(
        (check) => (r.countsByCheck[check] ?? 0) > 0,
      ),
    );
    expect(linesOf(report, AuditCheck.BalanceEqualsTransfers)).toEqual(
      expect.arrayContaining([
        expect.stringContaining('account wallet:a'),
        expect.stringContaining('account external:funding'),
      ]),
    );
    expect(linesOf(report, AuditCheck.ClaimsWithinTotal)).toEqual([expect.stringContaining(`packet ${P3}`)]);
    expect(linesOf(report, HealthCheck.CreditStuck)).toEqual([
      expect.stringContaining(`claim ${ROGUE_CLAIM}`),
    ]);
    // Escrow without a workflow is healed before the audit looks: the run adopted both packets.
    expect(linesOf(report, AuditCheck.EscrowHasLiveWorkflow)).toEqual([]);
    expect(await repairsOf('adopted')).toBe(2);
    for (const packetId of [P3, P4]) {
      const { status } = await client.workflow.getHandle(packetWorkflowId(packetId)).describe();
      expect(status.name).toBe('RUNNING');
    }
    // The same report through the query, the run's search attribute, the list filter and the gauge.
    const run = client.workflow.getHandle(workflowId);
    expect(await run.query(reconcileReportQuery)).toEqual(report);
    expect((await run.describe()).typedSearchAttributes.get(AuditViolationsKey)).toBe(report.violationCount);
    const query = `WorkflowType = '${RECONCILE_WORKFLOW_TYPE}' AND TaskQueue = '${taskQueue}' AND AuditViolations > 0`;
    await waitFor(async () => {
      for await (const execution of client.workflow.list({ query })) {
        if (execution.workflowId === workflowId) return true;
      }
      return false;
    });
    expect(await gaugeOf(AuditCheck.ClaimsWithinTotal)).toBeGreaterThan(0);

    // Healed once P3 has been quiet for a while (the pump credits its honest claim first): the gate offers
    // what Postgres has left (5 shares - 2 opened = 3, the injected claim does not count against remaining)
    // and expires with the packet, the stale detail is gone, and the half gate removed.
    await waitFor(async () => (await repairsOf('gate_count')) > 0 && (await repairsOf('half_gate')) > 0);
    expect(await repairsOf('gate_ttl')).toBeGreaterThan(0);
    expect(await repairsOf('detail_stale')).toBeGreaterThan(0);
    expect(await h.redis.client.hget(keys.gate(P3), 'remaining')).toBe('3');
    const { rows } = await h.db.query<{ ms: number }>(
      `SELECT (extract(epoch FROM expires_at) * 1000)::bigint AS ms FROM packets WHERE id = $1`,
      [P3],
    );
    expect(await h.redis.client.pexpiretime(keys.gate(P3))).toBe((rows[0]?.ms ?? 0) + GATE_GRACE_MS);
    expect(await h.redis.client.exists(keys.gate(P4), keys.detail(P3))).toBe(0);

    // Undo the unhealable damage and settle the adopted packets now rather than at their expiry: the next run
    // is clean.
    await h.db.query(`DELETE FROM transfers WHERE id = 'deposit:rogue'`);
    await h.db.query(`DELETE FROM credit_failures WHERE claim_id = '${ROGUE_CLAIM}'`);
    await h.db.query(`DELETE FROM claims WHERE id = '${ROGUE_CLAIM}'`);
    await waitFor(async () => {
      const { rows: left } = await h.db.query('SELECT 1 FROM claims WHERE credited_at IS NULL');
      return left.length === 0;
    });
    const activities = createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });
    await activities.settlePacket(P3);
    await activities.settlePacket(P4);
    const cleanFromMs = Date.now();
    const clean = await awaitScheduledRun(client, taskQueue, cleanFromMs, (r) => r.violationCount === 0);
    expect(clean.report.violations).toEqual([]);
    expect(
      (await client.workflow.getHandle(clean.workflowId).describe()).typedSearchAttributes.get(
        AuditViolationsKey,
      ),
    ).toBe(0);
    expect(await gaugeOf(AuditCheck.ClaimsWithinTotal)).toBe(0);
    await expectAuditClean(h.db, { temporal: client });
  });

  test('the schedule survives a worker restart, and a new interval updates it', async () => {
    await h.stopWorkers();
    const restartedMs = Date.now();
    await h.startWorker(undefined, { reconcile: { settings: h.config.reconcile, metrics } });
    const { report } = await awaitScheduledRun(h.temporal.client, h.config.temporal.taskQueue, restartedMs);
    expect(report.startedAtMs).toBeGreaterThan(restartedMs);
    expect(await ensureReconcileSchedule(h.temporal.client, h.config)).toBe('unchanged');
    // A worker deployed with another interval updates the schedule; the next one with the same leaves it.
    const slower = { ...h.config, reconcile: { ...h.config.reconcile, intervalMs: 2_000 } };
    expect(await ensureReconcileSchedule(h.temporal.client, slower)).toBe('updated');
    const schedule = h.temporal.client.schedule.getHandle(reconcileScheduleId(h.config.temporal.taskQueue));
    expect((await schedule.describe()).spec.intervals).toEqual([expect.objectContaining({ every: 2_000 })]);
    expect(await ensureReconcileSchedule(h.temporal.client, slower)).toBe('unchanged');
  });
});

async function waitFor(condition: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
