/**
 * The reconcile activity's steps, called directly (no schedule): a violation stays reported after the watermark
 * has passed it, until it is gone; a closed packet's gate is exhausted and a half gate removed; a packet with
 * an open or credit in the last moments is not compared by count.
 */
import { createActivities } from '../../activities';
import { AuditCheck } from '../../ledger/audit';
import { reconcileGates } from '../../packets/gate/reconcileGates';
import { buildHonestBooks, P1, P2, P3 } from '../support/auditBooks';
import { createHarness, type Harness } from '../support/harness';
import { linesOf } from '../support/reconcile';
import { createWorkerMetrics, portOf, serveMetrics } from '../../workers/metrics';

describe('reconcile steps', () => {
  let h: Harness;
  let reconcile: () => ReturnType<ReturnType<typeof createActivities>['reconcile']>;

  beforeAll(async () => {
    h = await createHarness();
    await buildHonestBooks(h);
    const activities = createActivities({
      db: h.db,
      redis: h.redis,
      credit: h.config.credit,
      reconcile: { settings: h.config.reconcile, temporal: h.temporal.client },
    });
    reconcile = () => activities.reconcile({ budgetMs: 30_000, adoptLimit: 200 });
  });
  afterAll(async () => {
    await h.close();
  });

  test('a violation the watermark has passed stays reported until it is gone', async () => {
    // The books and the damage written a minute ago, so the first run moves the watermark past all of it.
    const { rows: rogue } = await h.db.query<{ seq: number }>(
      `INSERT INTO transfers (id, kind, debit_account_id, credit_account_id, amount_fen)
       VALUES ('deposit:old-rogue', 'deposit', 'external:funding', 'wallet:c', 3) RETURNING seq`,
    );
    await h.db.query(`UPDATE transfers SET created_at = created_at - interval '1 minute'`);
    const first = await reconcile();
    expect(first.scope.transfersToSeq).toBe(rogue[0]?.seq);
    expect(linesOf(first, AuditCheck.BalanceEqualsTransfers)).toContainEqual(
      expect.stringContaining('account wallet:c'),
    );
    const second = await reconcile();
    expect(second.scope.transfersToSeq).toBe(rogue[0]?.seq);
    expect(linesOf(second, AuditCheck.BalanceEqualsTransfers)).toContainEqual(
      expect.stringContaining('account wallet:c'),
    );
    await h.db.query(`DELETE FROM transfers WHERE id = 'deposit:old-rogue'`);
    const fixed = await reconcile();
    expect(fixed.countsByCheck[AuditCheck.BalanceEqualsTransfers]).toBe(0);
    const { rows } = await h.db.query<{ carried: unknown }>(
      'SELECT carried_scope AS carried FROM reconcile_state',
    );
    expect(rows[0]?.carried).toBeNull();
  });

  test("a finished packet's gate is exhausted, a half gate removed with its keys, a busy packet not counted", async () => {
    const { client } = h.redis;
    const { keys } = h.redis;
    const inAnHourMs = Date.now() + 3_600_000;
    await client.hset(keys.gate(P1), { remaining: 2, count: 3, expiresAtMs: inAnHourMs, restricted: 0 });
    await client.pexpireat(keys.gate(P1), inAnHourMs);
    await client.zadd(keys.holders(P1), inAnHourMs, 'x');
    await client.unlink(keys.gate(P2));
    await client.hset(keys.gate(P2), 'remaining', 1);
    await client.sadd(keys.claimed(P2), 'a');
    // P3 had opens and a credit moments ago (buildHonestBooks): its count may honestly lag, so it stays.
    await client.hset(keys.gate(P3), 'remaining', 5);
    const result = await reconcileGates(h.db, h.redis, {
      packetIds: [P1, P2, P3],
      cursor: '',
      openPerRun: 10,
    });
    expect(result.repairs).toEqual([
      { kind: 'gate_after_close', packetId: P1 },
      { kind: 'half_gate', packetId: P2 },
    ]);
    expect(await client.hget(keys.gate(P1), 'remaining')).toBe('0');
    expect(await client.exists(keys.holders(P1), keys.gate(P2), keys.claimed(P2))).toBe(0);
    expect(await client.hget(keys.gate(P3), 'remaining')).toBe('5');
    const again = await reconcileGates(h.db, h.redis, { packetIds: [P1, P2], cursor: '', openPerRun: 10 });
    expect(again.repairs).toEqual([]);
  });

  test("the worker's /metrics serves the last run's violations by check and the repairs", async () => {
    const metrics = createWorkerMetrics();
    const report = await reconcile();
    metrics.record({ ...report, repairs: [{ kind: 'gate_ttl', packetId: P3 }] });
    const server = await serveMetrics(metrics.registry, 0, '127.0.0.1');
    try {
      const body = await (await fetch(`http://127.0.0.1:${portOf(server)}/metrics`)).text();
      expect(body).toContain(`redpacket_audit_violations{check="${AuditCheck.ClaimsWithinTotal}"} 0`);
      expect(body).toContain(
        `redpacket_audit_violations{check="${AuditCheck.EscrowHasLiveWorkflow}"} ${report.countsByCheck[AuditCheck.EscrowHasLiveWorkflow]}`,
      );
      expect(body).toContain('redpacket_reconcile_repairs_total{kind="gate_ttl"} 1');
      expect(body).toMatch(/redpacket_reconcile_last_run_timestamp_seconds \d+/);
    } finally {
      server.close();
    }
  });
});
