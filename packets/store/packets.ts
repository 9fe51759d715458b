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

/** What settlement leaves a packet as: closed to opens with credits still owed, or finished. */
export type SettledStatus = Exclude<PacketStatus, 'open'>;

/**
 * The one "settled" assignment of a packet row: its status, its refund, and closed_at kept from the first
 * close. Every statement that closes or finishes a packet uses it (settlement's markSettled below, the credit
 * steps' finishHeld in credits.ts), so what a settled packet carries is written in one place. The arguments
 * are SQL: a parameter placeholder or an expression over the row (unqualified, so any alias of packets works).
 */
export function settledAssignment(statusSql: string, refundFenSql: string): string {
  return `status = ${statusSql}, refund_fen = ${refundFenSql}, closed_at = coalesce(closed_at, now())`;
}

/** Closes or finishes one packet whose row lock the caller holds, recording its refund. */
export async function markSettled(
  tx: Queryable,
  packetId: string,
  status: SettledStatus,
  refundFen: number,
): Promise<void> {
  await tx.query(
    `UPDATE packets SET ${settledAssignment('$2', '$3')} WHERE day = day_of_id($1) AND id = $1`,
    [packetId, status, refundFen],
  );
}

export async function findPacket(
  db: Queryable,
  packetId: string,
  options: { lock?: boolean } = {},
): Promise<PacketRow | undefined> {
  const { rows } = await db.query<PacketRow>(
    `SELECT ${PACKET_COLUMNS} FROM packets WHERE day = day_of_id($1) AND id = $1${options.lock ? ' FOR UPDATE' : ''}`,
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
    `SELECT ${CLAIM_COLUMNS} FROM claims WHERE day = day_of_id($1) AND packet_id = $1 ORDER BY seq`,
    [packetId],
  );
  return rows;
}

/** Uncredited claims of a packet, locked so two overlapping credit attempts cannot both take them. */
export async function lockUncreditedClaims(db: Queryable, packetId: string): Promise<ClaimRow[]> {
  const { rows } = await db.query<ClaimRow>(
    `SELECT ${CLAIM_COLUMNS} FROM claims WHERE day = day_of_id($1) AND packet_id = $1 AND credited_at IS NULL
     ORDER BY seq FOR UPDATE`,
    [packetId],
  );
  return rows;
}
