/**
 * Issue 24, item 5: sends that must never pay twice or pay for nothing. A retry that reaches a packet workflow
 * started before payment fingerprints gets that packet back (the old answer, "id taken", dropped the key's
 * packet id and the next retry paid a second packet); an audience nobody but the sender is in is refused.
 */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { ErrorCode } from '../../domain/errors';
import { allocatePacketId } from '../../packets/gate/ids';
import { packetWorkflowId, payUpdate, type PacketInput } from '../../saga';
import type { packetWorkflow } from '../../workflows/packet';
import { expectAuditClean } from '../support/audit';
import { createHarness, type Harness } from '../support/harness';
import { balanceOf, FAST_SWEEP, fund, send } from '../support/packets';

describe('sends that must not pay twice or for nothing', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await createHarness();
    await h.startWorker();
  });
  afterEach(async () => {
    await expectAuditClean(h.db);
  });
  afterAll(async () => {
    await h.close();
  });

  const packetsOf = async (senderId: string) =>
    (await h.db.query<{ id: string }>('SELECT id FROM packets WHERE sender_id = $1', [senderId])).rows.map(
      (row) => row.id,
    );

  /**
   * A send whose first attempt ran before fingerprints: it remembered the key's packet id (before request
   * hashes, so without one), then started the workflow with an input that has no fingerprint, which paid
   * 400 fen in 2 shares under its fields (`fields:...`).
   */
  async function paidBeforeFingerprints(senderId: string, idempotencyKey: string): Promise<string> {
    await fund(h, senderId, 1_000);
    const { packetId } = await allocatePacketId({ db: h.db, redis: h.redis, region: h.config.packet.region });
    await h.db.query(
      'INSERT INTO packet_requests (sender_id, idempotency_key, packet_id) VALUES ($1, $2, $3)',
      [senderId, idempotencyKey, packetId],
    );
    const input: PacketInput = {
      packetId,
      senderId,
      type: 'random',
      totalFen: 400,
      count: 2,
      greeting: null,
      recipientId: null,
      audience: null,
      expiresAtMs: Date.now() + 3_600_000,
      creditStuckAfterMs: 60_000,
      sweep: FAST_SWEEP,
    };
    await h.temporal.client.workflow.executeUpdateWithStart(payUpdate, {
      updateId: `pay-${idempotencyKey}`,
      startWorkflowOperation: new WithStartWorkflowOperation<typeof packetWorkflow>('packetWorkflow', {
        workflowId: packetWorkflowId(packetId),
        taskQueue: h.config.temporal.taskQueue,
        args: [input],
        workflowIdConflictPolicy: 'USE_EXISTING',
      }),
    });
    expect(await balanceOf(h, senderId)).toBe(600);
    return packetId;
  }

  test('a retry that reaches a workflow started before fingerprints answers that packet, and none pays twice', async () => {
    const senderId = `legacy-${randomUUID().slice(0, 8)}`;
    const idempotencyKey = `key-${randomUUID()}`;
    const packetId = await paidBeforeFingerprints(senderId, idempotencyKey);
    // The client's retries, after the service learned fingerprints.
    const retry = () => send(h, senderId, { type: 'random', amountFen: 400, count: 2 }, { idempotencyKey });
    expect((await retry()).packetId).toBe(packetId);
    expect((await retry()).packetId).toBe(packetId);
    expect(await packetsOf(senderId)).toEqual([packetId]);
    expect(await balanceOf(h, senderId)).toBe(600);
  });

  test('a retry of that key with another amount is refused as a reused key, every time, and pays nothing', async () => {
    const senderId = `legacy-${randomUUID().slice(0, 8)}`;
    const idempotencyKey = `key-${randomUUID()}`;
    const packetId = await paidBeforeFingerprints(senderId, idempotencyKey);
    const retry = () => send(h, senderId, { type: 'random', amountFen: 300, count: 2 }, { idempotencyKey });
    for (let attempt = 0; attempt < 2; attempt++) {
      await expect(retry()).rejects.toMatchObject({ code: ErrorCode.IdempotencyKeyReused });
    }
    expect(await packetsOf(senderId)).toEqual([packetId]);
    expect(await balanceOf(h, senderId)).toBe(600);
  });

  test.each([
    ['the sender alone', 1, (senderId: string) => [senderId]],
    ['the sender and fewer others than shares', 2, (senderId: string) => [senderId, 'au-other']],
  ])(
    'a send whose audience is %s is refused with 422, and nothing is paid',
    async (_name, count, audience) => {
      const senderId = `aud-${randomUUID().slice(0, 8)}`;
      await fund(h, senderId, 500);
      const answer = await request(h.app())
        .post('/v1/packets')
        .set('Authorization', `Bearer ${await h.tokenFor(senderId)}`)
        .set('Idempotency-Key', `send-${randomUUID()}`)
        .send({
          type: 'random',
          amountFen: 300,
          count,
          audience: audience(senderId),
        });
      expect(answer.status).toBe(422);
      expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(answer.body.code).toBe(ErrorCode.AudienceUnclaimable);
      expect(await packetsOf(senderId)).toEqual([]);
      expect(await balanceOf(h, senderId)).toBe(500);
    },
  );
});
