/**
 * Postgres unreachable from the worker for a while during opens (a TCP proxy in front of it, cut by the
 * test): the pump marks itself CreditStuck with its backlog, credits resume by themselves once Postgres is
 * back, and every claim is credited exactly once.
 */
import { createDb, type Db } from '../../db';
import { openShare } from '../../packets/store/openShare';
import { creditPumpViewQuery, creditPumpWorkflowId } from '../../saga';
import { expectAuditClean } from '../support/audit';
import { allCreditedWithin, creditsPerClaim, eventually } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetResult, send } from '../support/packets';
import { startTcpProxy, type TcpProxy } from '../../scripts/lib/tcpProxy';

/** Long enough for the pump's retries to give up and the stuck threshold to pass; the 30 s
 * exercises nothing more and would triple the test's time. */
const OUTAGE_MS = 8_000;

describe('credit pump while Postgres is unreachable', () => {
  let h: Harness;
  let proxy: TcpProxy;
  let proxied: Db;
  beforeAll(async () => {
    h = await createHarness({ CREDIT_STUCK_AFTER_MS: '1000', CREDIT_SHARDS: '1' });
    const target = new URL(h.config.database.url);
    proxy = await startTcpProxy(target.hostname, Number(target.port || 5432));
    const url = new URL(h.config.database.url);
    url.port = String(proxy.port);
    proxied = createDb(
      { database: { ...h.config.database, url: url.toString() } },
      { applicationName: 'proxied' },
    );
    await h.startWorker({}, { db: proxied });
  });
  afterAll(async () => {
    await expectAuditClean(h.db);
    await h.close();
    await proxied.close();
    await proxy.close();
  });

  test('the pump shows CreditStuck with its backlog, then credits everything exactly once', async () => {
    await fund(h, 'outage-sender', 2_000);
    const packetIds: string[] = [];
    for (let i = 0; i < 4; i++)
      packetIds.push((await send(h, 'outage-sender', { type: 'fixed', amountFen: 500, count: 5 })).packetId);
    const pump = h.temporal.client.workflow.getHandle(creditPumpWorkflowId(h.config.credit.pumpIdPrefix, 0));
    const visible = async (clause: string) => {
      for await (const _ of h.temporal.client.workflow.list({
        query: `WorkflowId = '${pump.workflowId}' AND ${clause}`,
      }))
        return true;
      return undefined;
    };
    await openShare(h.db, packetIds[0]!, 'before-outage');
    proxy.cut();
    const cutAtMs = Date.now();
    try {
      // Opens keep committing (the API reaches Postgres); the worker does not.
      for (const [p, packetId] of packetIds.entries())
        for (let i = p === 0 ? 1 : 0; i < 5; i++) await openShare(h.db, packetId, `outage-${p}-${i}`);
      await eventually(() => visible('CreditStuck = true'), OUTAGE_MS, 'the pump to show CreditStuck', 250);
      const view = await pump.query(creditPumpViewQuery);
      expect(view.creditStuck).toBe(true);
      expect(view.lastError).toEqual(expect.any(String));
      process.stdout.write(`pump stuck ${Date.now() - cutAtMs} ms after the cut: ${view.lastError}\n`);
      await new Promise((r) => setTimeout(r, Math.max(0, OUTAGE_MS - (Date.now() - cutAtMs))));
    } finally {
      proxy.restore();
    }
    const restoredAtMs = Date.now();
    await allCreditedWithin(h, packetIds, 60_000);
    process.stdout.write(
      `credits resumed and finished ${Date.now() - restoredAtMs} ms after Postgres came back\n`,
    );
    const perClaim = await creditsPerClaim(h, packetIds);
    expect(perClaim.size).toBe(20);
    expect([...perClaim.values()].every((n) => n === 1)).toBe(true);
    await eventually(() => visible('CreditStuck = false'), 30_000, 'the pump to clear CreditStuck', 250);
    for (const packetId of packetIds)
      expect(await packetResult(h, packetId)).toMatchObject({ creditedCount: 5, refundFen: 0 });
  }, 120_000);
});
