/**
 * The reconcile schedule lives in Temporal, not in a worker: it keeps starting runs after its Temporal server
 * restarts (a private dev server with a database file, as `npm run dev` runs one), without any worker
 * creating it again, and `temporal schedule list` shows it.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { reconcileScheduleId } from '../../saga';
import { freePort } from '../../scripts/lib/isolation';
import {
  findTemporalCli,
  registerSearchAttributes,
  startDevServer,
  type DevServer,
} from '../../scripts/lib/temporalCli';
import { createTemporal, type TemporalDeps } from '../../temporal/client';
import { createWorker } from '../../workers/createWorker';
import { ensureReconcileSchedule } from '../../workers/reconcileSchedule';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { awaitScheduledRun } from '../support/reconcile';
import { getRunState } from '../support/runState';

describe('reconcile schedule across a Temporal restart', () => {
  let h: Harness;
  let cli: string;
  const dbFile = join(tmpdir(), `redpacket-reconcile-${randomBytes(4).toString('hex')}.sqlite`);
  let server: DevServer | undefined;
  let temporal: TemporalDeps | undefined;
  let worker: { worker: Worker; running: Promise<void>; connection: NativeConnection } | undefined;

  beforeAll(async () => {
    h = await createHarness({ RECONCILE_INTERVAL_MS: '1000' });
    cli = await findTemporalCli(h.config.temporal.cliPath);
  });
  afterAll(async () => {
    await stopWorld();
    rmSync(dbFile, { force: true });
    rmSync(`${dbFile}-wal`, { force: true });
    rmSync(`${dbFile}-shm`, { force: true });
    await h.close();
  });

  /** The private server on `port` with its database file, a client and a worker on the harness' schema. */
  async function startWorld(port: number): Promise<{ temporal: TemporalDeps; address: string }> {
    server = await startDevServer({ cliPath: cli, port, dbFile, namespace: h.config.temporal.namespace });
    // As provisioning does: the dev server ignores --search-attribute flags on an existing database file.
    registerSearchAttributes(cli, server.address, h.config.temporal.namespace);
    temporal = createTemporal({ temporal: { ...h.config.temporal, address: server.address } });
    const connection = await NativeConnection.connect({ address: server.address });
    const built = await createWorker({
      connection,
      namespace: h.config.temporal.namespace,
      taskQueue: h.config.temporal.taskQueue,
      deps: {
        db: h.db,
        redis: h.redis,
        credit: h.config.credit,
        reconcile: { settings: h.config.reconcile },
      },
      workflowBundle: { codePath: getRunState().bundlePath },
    });
    worker = { worker: built, connection, running: built.run() };
    return { temporal, address: server.address };
  }

  async function stopWorld(): Promise<void> {
    if (worker) {
      if (worker.worker.getState() === 'RUNNING') worker.worker.shutdown();
      await worker.running.catch(() => undefined);
      await worker.connection.close();
      worker = undefined;
    }
    await temporal?.close();
    temporal = undefined;
    await server?.stop();
    server = undefined;
  }

  test('runs go on after the server restarts on its database file, and the CLI lists the schedule', async () => {
    const port = await freePort();
    const first = await startWorld(port);
    expect(await ensureReconcileSchedule(first.temporal.client, h.config)).toBe('created');
    await awaitScheduledRun(first.temporal.client, h.config.temporal.taskQueue, 0);
    await stopWorld();

    const restartedMs = Date.now();
    const second = await startWorld(port);
    const { report } = await awaitScheduledRun(
      second.temporal.client,
      h.config.temporal.taskQueue,
      restartedMs,
    );
    expect(report.violationCount).toBe(0);
    const listed = spawnSync(cli, ['schedule', 'list', '--address', second.address], { encoding: 'utf8' });
    expect(listed.status).toBe(0);
    expect(listed.stdout).toContain(reconcileScheduleId(h.config.temporal.taskQueue));
    await expectAuditClean(h.db, { temporal: second.temporal.client });
  });
});
