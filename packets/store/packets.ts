/** SQL over packets and claims shared by the activities and the API. */
import type { Queryable } from '../../db';
import type { PacketType } from '../../domain/limits';

export type PacketStatus = 'open' | 'closed' | 'finished';

export interface PacketRow {
  id: string;
  senderId: string;
  type: PacketType;
  totalFen: number;
  shareCount: number;
  remainingFen: number;
  remainingCount: number;
  greeting: string | null;
  recipientId: string | null;
  audience: string[] | null;
  status: PacketStatus;
  expiresAt: Date;
  createdAt: Date;
  closedAt: Date | null;
  refundFen: number | null;
}

export const PACKET_COLUMNS = `id, sender_id AS "senderId", type, total_fen AS "totalFen", share_count AS "shareCount",
  remaining_fen AS "remainingFen", remaining_count AS "remainingCount", greeting, recipient_id AS "recipientId",
  audience, status, expires_at AS "expiresAt", created_at AS "createdAt", closed_at AS "closedAt", refund_fen AS "refundFen"`;

export async function findPacket(
  db: Queryable,
  packetId: string,
  options: { lock?: boolean } = {},
): Promise<PacketRow | undefined> {
  const { rows } = await db.query<PacketRow>(
    `SELECT ${PACKET_COLUMNS} FROM packets WHERE id = $1${options.lock ? ' FOR UPDATE' : ''}`,
    [packetId],
  );
  return rows[0];
}

export interface ClaimRow {
  id: string;
  packetId: string;
  userId: string;
  seq: number;
  amountFen: number;
  createdAt: Date;
  creditedAt: Date | null;
}

const CLAIM_COLUMNS = `id, packet_id AS "packetId", user_id AS "userId", seq, amount_fen AS "amountFen",
  created_at AS "createdAt", credited_at AS "creditedAt"`;

export async function listClaims(db: Queryable, packetId: string): Promise<ClaimRow[]> {
  const { rows } = await db.query<ClaimRow>(
    `SELECT ${CLAIM_COLUMNS} FROM claims WHERE packet_id = $1 ORDER BY seq`,
    [packetId],
  );
  return rows;
}

/** Uncredited claims of a packet, locked so two overlapping credit attempts cannot both take them. */
export async function lockUncreditedClaims(db: Queryable, packetId: string): Promise<ClaimRow[]> {
  const { rows } = await db.query<ClaimRow>(
    `SELECT ${CLAIM_COLUMNS} FROM claims WHERE packet_id = $1 AND credited_at IS NULL ORDER BY seq FOR UPDATE`,
    [packetId],
  );
  return rows;
}
