/**
 * The reconcile activity's steps, called directly (no schedule): a violation stays reported after the watermark
 * has passed it, until it is gone; a closed packet's gate is exhausted and a half gate removed; a packet with
 * an open or credit in the last moments is not compared by count.
 */
import { AuditCheck } from '../../ledger/audit';
import { reconcileGates } from '../../packets/gate/reconcileGates';
import { buildHonestBooks, P1, P2, P3 } from '../support/auditBooks';
import { createHarness, type Harness } from '../support/harness';
import { linesOf, reconcileNow } from '../support/reconcile';
import { eventually } from '../support/credits';
import { uniqueTag } from '../support/ledgerFixtures';
import { fund, open, send } from '../support/packets';
import { creditHealthSignal, packetWorkflowId } from '../../saga';
import { createWorkerMetrics, portOf, serveMetrics } from '../../workers/metrics';

describe('reconcile steps', () => {
  let h: Harness;
  let reconcile: ReturnType<typeof reconcileNow>;

  beforeAll(async () => {
    h = await createHarness();
    await buildHonestBooks(h);
    reconcile = reconcileNow(h);
  });
  afterAll(async () => {
    await h.close();
  });

  test('a violation the watermark has passed stays reported until it is gone', async () => {
    // The books and the damage written a minute ago, so the first run moves the watermark past all of it.
    const { rows: rogue } = await h.db.query<{ seq: number }>(
      `INSERT INTO transfers (day, id, kind, debit_account_id, credit_account_id, amount_fen)
       VALUES (transfer_day('deposit:old-rogue'), 'deposit:old-rogue', 'deposit', 'external:funding', 'wallet:c', 3) RETURNING seq`,
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

  test('a CreditStuck flag whose "all through" report was lost is cleared, a real one is left', async () => {
    const flagged = async (packetId: string) => {
      for await (const _ of h.temporal.client.workflow.list({
        query: `WorkflowId = '${packetWorkflowId(packetId)}' AND CreditStuck = true`,
      }))
        return true;
      return false;
    };
    // Workflows run, pumps do not: a claim opened here stays as the test leaves it.
    await h.startWorker();
    await h.stopPumps();
    const [lost, real] = [`stale-${uniqueTag()}`, `real-${uniqueTag()}`];
    await fund(h, 'flag-sender', 200);
    const lostPacket = await send(h, 'flag-sender', { type: 'fixed', amountFen: 100, count: 1 });
    const realPacket = await send(h, 'flag-sender', { type: 'fixed', amountFen: 100, count: 1 });
    // Both workflows told of a stuck credit; only the second one's is still set aside in Postgres, so the
    // first stands for a packet whose empty report (the credit went through) never arrived.
    const { claimId } = await open(h, realPacket.packetId, real);
    await h.db.query(
      `INSERT INTO credit_failures (claim_id, packet_id, attempts, first_failed_at, last_error, retry_at)
       VALUES ($1, $2, 1, clock_timestamp() - interval '1 hour', 'lock timeout', clock_timestamp() + interval '1 hour')`,
      [claimId, realPacket.packetId],
    );
    for (const packetId of [lostPacket.packetId, realPacket.packetId]) {
      const stuck = [{ claimId: `${packetId}-1`, userId: lost, amountFen: 100, sinceMs: 0, lastError: 'x' }];
      await h.temporal.client.workflow
        .getHandle(packetWorkflowId(packetId))
        .signal(creditHealthSignal, { stuck });
      await eventually(
        async () => ((await flagged(packetId)) ? true : undefined),
        10_000,
        `${packetId} flagged`,
      );
    }

    const report = await reconcile();
    expect(report.repairs).toContainEqual({ kind: 'stuck_flag_cleared', packetId: lostPacket.packetId });
    expect(report.repairs).not.toContainEqual(expect.objectContaining({ packetId: realPacket.packetId }));
    await eventually(
      async () => ((await flagged(lostPacket.packetId)) ? undefined : true),
      10_000,
      'the stale flag cleared',
    );
    expect(await flagged(realPacket.packetId)).toBe(true);
    await h.db.query('DELETE FROM credit_failures WHERE claim_id = $1', [claimId]);
  });
});
