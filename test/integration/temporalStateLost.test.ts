/**
 * Temporal's state lost while Postgres keeps the money (issue 25): a private dev server with a database
 * file carries paid packets, some opened, some not, some about to expire; it is stopped, its file deleted
 * and it is started again empty, as `npm run dev` after `rm -rf .data/` does. The worker and the credit
 * pumps come back with it, and two reconcilers run the adoption at once: every orphan gets exactly one
 * workflow, each refund lands at its packet's expiry to the fen, every claim is credited, and the audit
 * (its Temporal check included) is clean.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../config';
import { AuditCheck, runAudit } from '../../ledger/audit';
import { AuditViolationsKey, packetWorkflowId } from '../../saga';
import { freePort } from '../../scripts/lib/isolation';
import {
  findTemporalCli,
  registerSearchAttributes,
  startDevServer,
  type DevServer,
  type DevServerOptions,
} from '../../scripts/lib/temporalCli';
import { expectAuditClean } from '../support/audit';
import { reconciler, refundTiming, runsOf } from '../support/adoption';
import { allCreditedWithin } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, fund, open, packetResult, send } from '../support/packets';
import { awaitScheduledRun } from '../support/reconcile';
import { keepBackground } from '../../workers/keeper';

jest.setTimeout(90_000);

/** Short, so that "within two intervals" fits a test. */
const RECONCILE_INTERVAL_MS = 2_000;

describe('Temporal state lost, Postgres kept', () => {
  const dir = mkdtempSync(join(tmpdir(), 'redpacket-lost-'));
  let cli: string;
  let serverOptions: DevServerOptions;
  let server: DevServer | undefined;
  let w: Harness;

  async function startServer(): Promise<void> {
    server = await startDevServer(serverOptions);
    // A fresh database file has none of the custom search attributes: provisioning registers them again.
    registerSearchAttributes(cli, server.address, serverOptions.namespace);
  }

  beforeAll(async () => {
    const config = loadConfig({ NODE_ENV: 'test' });
    cli = await findTemporalCli(config.temporal.cliPath);
    serverOptions = {
      cliPath: cli,
      port: await freePort(),
      dbFile: join(dir, 'temporal.sqlite'),
      namespace: config.temporal.namespace,
      logFile: join(dir, 'temporal.log'),
    };
    await startServer();
    w = await createHarness({
      TEMPORAL_ADDRESS: `127.0.0.1:${serverOptions.port}`,
      RECONCILE_INTERVAL_MS: String(RECONCILE_INTERVAL_MS),
    });
    await w.startWorker();
  });
  afterAll(async () => {
    await w.close();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('every orphan is adopted once, refunded at its expiry and credited; the audit is clean', async () => {
    const sender = 'lost-sender';
    await fund(w, sender, 5_000);
    // Past its expiry by the time it is adopted: settles at once. Opened once.
    const expired = await send(w, sender, { type: 'random', amountFen: 900, count: 3, expiresInSeconds: 2 });
    const expiredClaim = await open(w, expired.packetId, 'lost-a');
    // Not opened at all, also past its expiry: the whole amount comes back.
    const unopened = await send(w, sender, { type: 'fixed', amountFen: 300, count: 3, expiresInSeconds: 2 });
    // Still open when adopted: the adopted workflow waits for the expiry, then refunds.
    const waiting = await send(w, sender, { type: 'fixed', amountFen: 600, count: 3, expiresInSeconds: 25 });
    const waitingClaim = await open(w, waiting.packetId, 'lost-a');
    // Long-lived: adopted and left running, its claims credited by the pumps meanwhile.
    const longLived = await send(w, sender, { type: 'random', amountFen: 1_000, count: 4 });
    await open(w, longLived.packetId, 'lost-a');
    const packetIds = [expired, unopened, waiting, longLived].map((packet) => packet.packetId);

    await w.stopWorkers();
    await server?.stop();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${serverOptions.dbFile}${suffix}`, { force: true });
    // Opens need no Temporal: a claim made while it is away is credited once the pumps are back.
    await open(w, longLived.packetId, 'lost-b');
    await startServer();
    await w.startWorker();

    const lost = await runAudit(w.db, { temporal: w.temporal.client });
    const stranded = lost.violations.filter((v) => v.check === AuditCheck.EscrowHasLiveWorkflow);
    expect(stranded).toHaveLength(packetIds.length);

    const [first, second] = await Promise.all([reconciler(w).adopt(), reconciler(w).adopt()]);
    const adopted = [...(first?.adopted ?? []), ...(second?.adopted ?? [])];
    expect(adopted.sort()).toEqual([...packetIds].sort());
    expect([...(first?.failed ?? []), ...(second?.failed ?? [])]).toEqual([]);
    const adoptedAtMs = Date.now();
    for (const packetId of packetIds) expect(await runsOf(w, packetId)).toHaveLength(1);

    const refunds = {
      [expired.packetId]: 900 - expiredClaim.amountFen,
      [unopened.packetId]: 300,
      [waiting.packetId]: 600 - waitingClaim.amountFen,
    };
    for (const [packetId, refundFen] of Object.entries(refunds)) {
      expect((await packetResult(w, packetId)).refundFen).toBe(refundFen);
      const timing = await refundTiming(w, packetId);
      expect(timing?.refundFen).toBe(refundFen);
      expect(timing?.refundedAtMs).toBeGreaterThanOrEqual(timing?.expiresAtMs ?? Infinity);
    }
    expect((await refundTiming(w, waiting.packetId))?.expiresAtMs).toBeGreaterThan(adoptedAtMs);
    await allCreditedWithin(w, packetIds, 15_000);
    const longLivedRun = await w.temporal.client.workflow
      .getHandle(packetWorkflowId(longLived.packetId))
      .describe();
    expect(longLivedRun.status.name).toBe('RUNNING');
    const refundedFen = Object.values(refunds).reduce((sum, fen) => sum + fen, 0);
    expect(await balanceOf(w, sender)).toBe(5_000 - 900 - 300 - 600 - 1_000 + refundedFen);

    expect(await reconciler(w).adopt()).toEqual({ adopted: [], resolvedPayments: [], failed: [] });
    await expectAuditClean(w.db, { temporal: w.temporal.client });
  });

  test('a worker that kept running brings the pumps and the schedule back, and the scheduled run adopts the orphans', async () => {
    const sender = 'kept-sender';
    await fund(w, sender, 2_000);
    const opened = await send(w, sender, { type: 'fixed', amountFen: 400, count: 2, expiresInSeconds: 2 });
    const claim = await open(w, opened.packetId, 'kept-a');
    const longLived = await send(w, sender, { type: 'random', amountFen: 500, count: 2 });
    const packetIds = [opened.packetId, longLived.packetId];

    // The worker stays up through the loss, as a deployment's would; only its keeper notices.
    const log = { info: () => undefined, warn: () => undefined };
    const keeper = keepBackground(w.temporal.client, w.config, log, RECONCILE_INTERVAL_MS / 2);
    try {
      await server?.stop();
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${serverOptions.dbFile}${suffix}`, { force: true });
      await startServer();
      const restartedAtMs = Date.now();
      // Within two intervals of the keeper's next look: the schedule is back and a run adopted both.
      const adopting = await awaitScheduledRun(
        w.temporal.client,
        w.config.temporal.taskQueue,
        restartedAtMs,
        (r) => r.repairs.filter((repair) => repair.kind === 'adopted').length > 0,
        5 * RECONCILE_INTERVAL_MS,
      );
      const adopted = adopting.report.repairs.filter((repair) => repair.kind === 'adopted');
      // The first test's long-lived packet lost its workflow again too, and is adopted with these.
      expect(adopted.map((repair) => repair.packetId)).toEqual(expect.arrayContaining(packetIds));
      for (const packetId of packetIds) expect(await runsOf(w, packetId)).toHaveLength(1);
      // The next runs find nothing left: the search attribute and the report go back to 0.
      const clean = await awaitScheduledRun(
        w.temporal.client,
        w.config.temporal.taskQueue,
        Date.now(),
        (r) => r.violationCount === 0,
        5 * RECONCILE_INTERVAL_MS,
      );
      const run = await w.temporal.client.workflow.getHandle(clean.workflowId).describe();
      expect(run.typedSearchAttributes.get(AuditViolationsKey)).toBe(0);
      expect((await packetResult(w, opened.packetId)).refundFen).toBe(400 - claim.amountFen);
      await allCreditedWithin(w, packetIds, 15_000);
      await expectAuditClean(w.db, { temporal: w.temporal.client });
    } finally {
      keeper.stop();
    }
  });
});
