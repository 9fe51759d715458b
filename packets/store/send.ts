/**
 * The send's own SQL (packets/send.ts): the row that ties an Idempotency-Key to its packet id, and the
 * payment decision's fingerprint the send compares with its own.
 */
import type { Db } from '../../db';

export interface RememberedPacketId {
  packetId: string;
  /** The hash of the request that first used the key; null for rows written before request hashes. */
  requestHash: string | null;
}

/**
 * Ties the key to `candidate` unless it already names a packet, and returns the id it names. Two concurrent
 * first attempts of one key race here; the loser gets the winner's id.
 */
export async function rememberKeyPacketId(
  db: Db,
  senderId: string,
  idempotencyKey: string,
  candidate: string,
  requestHash: string,
): Promise<RememberedPacketId> {
  const { rows } = await db.query<{ packet_id: string; request_hash: string | null }>(
    `INSERT INTO packet_requests (sender_id, idempotency_key, packet_id, request_hash) VALUES ($1, $2, $3, $4)
     ON CONFLICT (sender_id, idempotency_key) DO UPDATE SET sender_id = EXCLUDED.sender_id
     RETURNING packet_id, request_hash`,
    [senderId, idempotencyKey, candidate, requestHash],
  );
  const row = rows[0];
  if (!row) throw new Error('packet_requests returned no packet id');
  return { packetId: row.packet_id, requestHash: row.request_hash };
}

/** Forgets the key's packet id (only if it still names `packetId`), so the next retry allocates afresh. */
export async function forgetKeyPacketId(
  db: Db,
  senderId: string,
  idempotencyKey: string,
  packetId: string,
): Promise<void> {
  await db.query(
    'DELETE FROM packet_requests WHERE sender_id = $1 AND idempotency_key = $2 AND packet_id = $3',
    [senderId, idempotencyKey, packetId],
  );
}

/** The fingerprint of the packet's payment decision, or undefined when none was written. */
export async function decisionFingerprintOf(db: Db, packetId: string): Promise<string | undefined> {
  const { rows } = await db.query<{ fingerprint: string }>(
    'SELECT fingerprint FROM payment_decisions WHERE packet_id = $1',
    [packetId],
  );
  return rows[0]?.fingerprint;
}
