/**
 * Records the replay fixtures of today's workflow code into test/fixtures/histories-deprecated (written since
 * 'credit-pump' and 'local-payment' were deprecated: their markers say so). Skipped in normal runs; `npm run
 * histories:record` runs it. The older sets stay frozen while their packets may run: histories-local-payment
 * (settling every credit itself) and histories-settle-owed (leaving owed credits to the pumps, before the
 * deprecation). A new era records into a new folder (docs/saga.md, "Changing the workflow").
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openShare } from '../../packets/store/openShare';
import { findTemporalCli } from '../../scripts/lib/temporalCli';
import { creditPumpWorkflowId, packetWorkflowId } from '../../saga';
import { allCreditedWithin, eventually } from '../support/credits';
import { createHarness, type Harness } from '../support/harness';
import { fund, packetResult, send } from '../support/packets';

export const FIXTURES = join(__dirname, '../fixtures/histories-deprecated');
const recording = process.env.RECORD_HISTORIES === '1';

/** The CLI's JSON is the canonical history format that runReplayHistory reads. */
async function save(h: Harness, name: string, workflowId: string, runId?: string): Promise<void> {
  const cli = await findTemporalCli(h.config.temporal.cliPath);
  const json = execFileSync(
    cli,
    [
      'workflow',
      'show',
      '--workflow-id',
      workflowId,
      ...(runId ? ['--run-id', runId] : []),
      '--address',
      h.config.temporal.address,
      '--output',
      'json',
    ],
    { encoding: 'utf8' },
  );
  mkdirSync(FIXTURES, { recursive: true });
  writeFileSync(join(FIXTURES, `${name}.json`), json);
}

(recording ? describe : describe.skip)('record replay fixtures (credit pump)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({
      CREDIT_STUCK_AFTER_MS: '1000',
      CREDIT_SHARDS: '1',
      CREDIT_PUMP_RUN_MS: '1000',
      CREDIT_PUMP_HISTORY_MAX_EVENTS: '20',
    });
    await h.startWorker();
  });
  afterAll(async () => {
    await h.close();
  });

  test('fully claimed', async () => {
    await fund(h, 'rec-sender', 300);
    const packet = await send(h, 'rec-sender', { type: 'fixed', amountFen: 300, count: 3 });
    for (const user of ['rec-a', 'rec-b', 'rec-c']) await openShare(h.db, packet.packetId, user);
    await packetResult(h, packet.packetId);
    await save(h, 'fully-claimed', packetWorkflowId(packet.packetId));
  });

  test('expired with refund', async () => {
    await fund(h, 'rec-expiring', 500);
    const packet = await send(h, 'rec-expiring', {
      type: 'random',
      amountFen: 500,
      count: 5,
      expiresInSeconds: 2,
    });
    await openShare(h.db, packet.packetId, 'rec-d');
    await packetResult(h, packet.packetId);
    await save(h, 'expired-with-refund', packetWorkflowId(packet.packetId));
  });

  test('insufficient funds', async () => {
    await expect(
      send(h, 'rec-poor', { type: 'random', amountFen: 100, count: 1 }, { idempotencyKey: 'rec-poor' }),
    ).rejects.toBeDefined();
    const { rows } = await h.db.query<{ packet_id: string }>(
      "SELECT packet_id FROM packet_requests WHERE idempotency_key = 'rec-poor'",
    );
    await save(h, 'insufficient-funds', packetWorkflowId(rows[0]!.packet_id));
  });

  test('a stuck credit, then recovered', async () => {
    await fund(h, 'rec-flaky', 200);
    const packet = await send(h, 'rec-flaky', {
      type: 'fixed',
      amountFen: 200,
      count: 2,
      expiresInSeconds: 120,
    });
    await h.db.query(`
      CREATE FUNCTION refuse_rec() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.kind = 'credit' THEN RAISE EXCEPTION 'refused' USING ERRCODE = 'check_violation'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER transfers_refuse_rec BEFORE INSERT ON transfers FOR EACH ROW EXECUTE FUNCTION refuse_rec();`);
    await openShare(h.db, packet.packetId, 'rec-e');
    await eventually(
      async () => {
        const { rows } = await h.db.query('SELECT 1 FROM credit_failures WHERE reported_at IS NOT NULL');
        return rows.length > 0 ? true : undefined;
      },
      20_000,
      'the stuck credit to be reported',
    );
    await h.db.query('DROP TRIGGER transfers_refuse_rec ON transfers; DROP FUNCTION refuse_rec()');
    await openShare(h.db, packet.packetId, 'rec-f');
    await packetResult(h, packet.packetId);
    await save(h, 'stuck-then-recovered', packetWorkflowId(packet.packetId));
  }, 60_000);

  test('a pump run that continued-as-new', async () => {
    const handle = h.temporal.client.workflow.getHandle(
      creditPumpWorkflowId(h.config.credit.pumpIdPrefix, 0),
    );
    const first = (await handle.describe()).runId;
    await fund(h, 'rec-pump', 100);
    const packet = await send(h, 'rec-pump', { type: 'fixed', amountFen: 100, count: 1 });
    await openShare(h.db, packet.packetId, 'rec-g');
    await allCreditedWithin(h, [packet.packetId], 10_000);
    await eventually(
      async () => ((await handle.describe()).runId !== first ? true : undefined),
      30_000,
      'continue-as-new',
    );
    await save(h, 'pump-continued-as-new', handle.workflowId, first);
  }, 60_000);
});
