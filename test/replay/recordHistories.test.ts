/**
 * Re-records the replay fixtures. Skipped in normal runs; `npm run histories:record` runs it against a
 * running dev server (TEMPORAL_ADDRESS, default the one `npm run dev` starts) and rewrites
 * test/fixtures/histories/*.json. Re-record only for a deliberate, versioned change (see README).
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findTemporalCli } from '../../scripts/lib/temporalCli';
import { packetWorkflowId } from '../../workflows/messages';
import { createHarness, type Harness } from '../support/harness';
import { fund, open, packetResult, send, signalerFor } from '../support/packets';

const FIXTURES = join(__dirname, '../fixtures/histories');
const recording = process.env.RECORD_HISTORIES === '1';

/** The CLI's JSON is the canonical history format that runReplayHistory reads. */
async function save(h: Harness, name: string, packetId: string): Promise<void> {
  const cli = await findTemporalCli(h.config.temporal.cliPath);
  const json = execFileSync(
    cli,
    [
      'workflow',
      'show',
      '--workflow-id',
      packetWorkflowId(packetId),
      '--address',
      h.config.temporal.address,
      '--output',
      'json',
    ],
    {
      encoding: 'utf8',
    },
  );
  writeFileSync(join(FIXTURES, `${name}.json`), json);
  await Promise.resolve();
}

(recording ? describe : describe.skip)('record replay fixtures', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await createHarness({ CREDIT_STUCK_AFTER_MS: '1000' });
    await h.startWorker();
  });
  afterAll(async () => {
    await h.close();
  });

  test('fully claimed', async () => {
    await fund(h, 'rec-sender', 300);
    const packet = await send(h, 'rec-sender', { type: 'fixed', amountFen: 300, count: 3 });
    const signaler = signalerFor(h);
    for (const user of ['rec-a', 'rec-b', 'rec-c']) await open(h, signaler, packet.packetId, user);
    await signaler.drain();
    await packetResult(h, packet.packetId);
    await save(h, 'fully-claimed', packet.packetId);
  });

  test('expired with refund', async () => {
    await fund(h, 'rec-expiring', 500);
    const packet = await send(h, 'rec-expiring', {
      type: 'random',
      amountFen: 500,
      count: 5,
      expiresInSeconds: 2,
    });
    const signaler = signalerFor(h);
    await open(h, signaler, packet.packetId, 'rec-d');
    await signaler.drain();
    await packetResult(h, packet.packetId);
    await save(h, 'expired-with-refund', packet.packetId);
  });

  test('insufficient funds', async () => {
    await expect(
      send(h, 'rec-poor', { type: 'random', amountFen: 100, count: 1 }, { idempotencyKey: 'rec-poor' }),
    ).rejects.toBeDefined();
    const { rows } = await h.db.query<{ packet_id: string }>(
      "SELECT packet_id FROM packet_requests WHERE idempotency_key = 'rec-poor'",
    );
    await save(h, 'insufficient-funds', rows[0]!.packet_id);
  });

  test('credit failed several times then succeeded', async () => {
    await fund(h, 'rec-flaky', 200);
    const packet = await send(h, 'rec-flaky', {
      type: 'fixed',
      amountFen: 200,
      count: 2,
      expiresInSeconds: 120,
    });
    await open(h, null, packet.packetId, 'rec-e');
    await h.db.query('ALTER TABLE claims RENAME TO claims_hidden');
    const signaler = signalerFor(h);
    signaler.notify(packet.packetId, {
      claimId: `${packet.packetId}-1`,
      userId: 'rec-e',
      amountFen: 100,
      openedAtMs: Date.now(),
    });
    await signaler.drain();
    await new Promise((r) => setTimeout(r, 4_000)); // three failed attempts at 1 s and 2 s backoff
    await h.db.query('ALTER TABLE claims_hidden RENAME TO claims');
    await open(h, signalerFor(h), packet.packetId, 'rec-f');
    await packetResult(h, packet.packetId);
    await save(h, 'credit-failed-then-succeeded', packet.packetId);
  }, 60_000);
});
