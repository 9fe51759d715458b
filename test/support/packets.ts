/** Small helpers for packet scenarios: fund wallets, send, open, wait for the workflow. */
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { transferIds, walletAccount, EXTERNAL_FUNDING_ACCOUNT } from '../../domain/accounts';
import { ensureWallet, postTransfer } from '../../ledger/transfers';
import { openShare, type OpenedClaim } from '../../packets/store/openShare';
import { sendPacket, type SendOptions } from '../../packets/send';
import type { SendRequest } from '../../domain/limits';
import { packetWorkflowId, type PacketResult } from '../../saga';
import type { Harness } from './harness';

let fundingSeq = 0;

export async function fund(h: Harness, userId: string, amountFen: number): Promise<void> {
  await h.db.withTransaction(async (tx) => {
    await ensureWallet(tx, userId);
    await postTransfer(tx, {
      id: transferIds.deposit(`test-${userId}-${++fundingSeq}-${Date.now()}`),
      debitAccountId: EXTERNAL_FUNDING_ACCOUNT,
      creditAccountId: walletAccount(userId),
      amountFen,
      kind: 'deposit',
    });
  });
}

export async function balanceOf(h: Harness, userId: string): Promise<number> {
  const { rows } = await h.db.query<{ balance_fen: number }>(
    'SELECT balance_fen FROM accounts WHERE id = $1',
    [walletAccount(userId)],
  );
  return rows[0]?.balance_fen ?? 0;
}

/**
 * Test timing: a closed packet owing credits re-checks every 100 ms backing off to 1 s, so a lost "all
 * credited" is found within a test's patience.
 */
export const FAST_SWEEP = { baseMs: 100, maxMs: 1_000 };

export function send(h: Harness, senderId: string, request: SendRequest, options: SendOptions = {}) {
  return sendPacket(h, senderId, request, { sweep: FAST_SWEEP, ...options });
}

/** A funded sender's 50-share random packet of 5,000 fen, sent through the API; its id. */
export async function sendThroughApi(h: Harness, senderId: string): Promise<string> {
  await fund(h, senderId, 5_000);
  const res = await request(h.app())
    .post('/v1/packets')
    .set('Authorization', `Bearer ${await h.tokenFor(senderId)}`)
    .set('Idempotency-Key', `send-${randomUUID()}`)
    .send({ type: 'random', amountFen: 5_000, count: 50 });
  if (res.status !== 201) throw new Error(`send answered ${res.status}: ${JSON.stringify(res.body)}`);
  return res.body.packetId as string;
}

/** Opens a share the way the API does: the open statement, and nothing else (the credit pumps find the claim). */
export async function open(h: Harness, packetId: string, userId: string): Promise<OpenedClaim> {
  return openShare(h.db, packetId, userId);
}

export function packetResult(h: Harness, packetId: string): Promise<PacketResult> {
  return h.temporal.client.workflow.getHandle(packetWorkflowId(packetId)).result() as Promise<PacketResult>;
}

export async function historyLength(h: Harness, packetId: string): Promise<number> {
  const history = await h.temporal.client.workflow.getHandle(packetWorkflowId(packetId)).fetchHistory();
  return history.events?.length ?? 0;
}
