/** Helpers for credit pump tests: pay a packet through the production activity, count credits, wait. */
import { randomBytes } from 'node:crypto';
import { createActivities } from '../../activities';
import type { Db } from '../../db';
import { creditNextBatch } from '../../packets/creditBatch';
import { allocatePacketId } from '../../packets/gate/ids';
import type { PacketType } from '../../domain/limits';
import type { Harness } from './harness';
import { fund } from './packets';

export const activitiesOf = (h: Harness) =>
  createActivities({ db: h.db, redis: h.redis, credit: h.config.credit });

/** A paid, armed packet written by the production payment activity (no workflow). */
export async function payDirectly(
  h: Harness,
  senderId: string,
  request: { type: PacketType; totalFen: number; count: number; expiresInSeconds?: number },
): Promise<string> {
  await fund(h, senderId, request.totalFen);
  const { packetId } = await allocatePacketId({ db: h.db, redis: h.redis, region: h.config.packet.region });
  await activitiesOf(h).payPacket({
    packetId,
    senderId,
    type: request.type,
    totalFen: request.totalFen,
    count: request.count,
    greeting: null,
    recipientId: null,
    audience: null,
    expiresAtMs: Date.now() + (request.expiresInSeconds ?? 600) * 1000,
    creditStuckAfterMs: h.config.credit.stuckAfterMs,
  });
  return packetId;
}

/**
 * Credits every queued claim now, by the credit pump's own batch step (shard 0 of 1 is every packet), until
 * a batch comes back less than full: what a pump does on its next wake-up, without a worker.
 */
export async function creditQueuedClaims(db: Db): Promise<void> {
  // Every claim is credited, so which go first (large ones first from largeMinFen) does not matter here.
  const slice = { shard: 0, shards: 1, largeMinFen: 5_000, limit: 100 };
  while ((await creditNextBatch(db, slice)).picked >= slice.limit);
}

export const uniqueUser = (prefix: string): string => `${prefix}${randomBytes(3).toString('hex')}`;

/** Credit transfers per claim of these packets: every entry must be exactly 1. */
export async function creditsPerClaim(
  h: Harness,
  packetIds: readonly string[],
): Promise<Map<string, number>> {
  const { rows } = await h.db.query<{ id: string; n: number }>(
    `SELECT c.id, count(t.id)::int AS n FROM claims c LEFT JOIN transfers t ON t.claim_id = c.id AND t.kind = 'credit'
     WHERE c.packet_id = ANY($1::text[]) GROUP BY c.id`,
    [packetIds],
  );
  return new Map(rows.map((row) => [row.id, row.n]));
}

export async function uncredited(h: Harness, packetIds: readonly string[]): Promise<number> {
  const { rows } = await h.db.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM claims WHERE packet_id = ANY($1::text[]) AND credited_at IS NULL',
    [packetIds],
  );
  return rows[0]?.n ?? 0;
}

/** Polls a probe until it returns a value (conditions owned by other processes cannot be awaited directly). */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  pollMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

export async function allCreditedWithin(h: Harness, packetIds: readonly string[], timeoutMs: number) {
  await eventually(
    async () => ((await uncredited(h, packetIds)) === 0 ? true : undefined),
    timeoutMs,
    'every claim to be credited',
  );
}

/** A row another session holds, as a paused client mid-transaction would: `release` rolls back, once. */
export interface HeldRow {
  release: () => Promise<void>;
}

/**
 * Takes an account row (`wallet:<user>`, `escrow:<packet>`) FOR UPDATE in a transaction of its own and keeps
 * it until `release`, so a credit that needs the row waits for its lock timeout and is set aside.
 */
export function holdAccountRow(db: Db, accountId: string): Promise<HeldRow> {
  return holdRow(db, 'SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE', accountId);
}

/**
 * Takes a packet's row FOR UPDATE the same way, as its expiry's settlement does: its opens wait on it in
 * Postgres (the open statement locks the row) until `release`, or their statement timeout.
 */
export function holdPacketRow(db: Db, packetId: string): Promise<HeldRow> {
  return holdRow(db, 'SELECT 1 FROM packets WHERE id = $1 FOR UPDATE', packetId);
}

async function holdRow(db: Db, lockStatement: string, id: string): Promise<HeldRow> {
  const holder = await db.pool.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(lockStatement, [id]);
  } catch (err) {
    holder.release();
    throw err;
  }
  let released = false;
  return {
    release: async () => {
      if (released) return;
      released = true;
      await holder.query('ROLLBACK');
      holder.release();
    },
  };
}
