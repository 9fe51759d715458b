/**
 * A user's packet lists, newest first, by keyset: sent walks packets_sender (sender_id, created_at DESC,
 * id DESC), received walks claims_user (user_id, created_at DESC, id DESC). Positions carry created_at in
 * whole microseconds since the epoch, Postgres' own precision, because a JavaScript Date keeps only
 * milliseconds and a page boundary between two rows of the same millisecond would skip or repeat a row.
 */
import type { Queryable } from '../../db';
import type { PacketType } from '../../domain/limits';
import type { PacketRow, PacketStatus } from './packets';

/** Where a page ended: the last row's created_at (microseconds since the epoch) and id. */
export interface ListPosition {
  createdUs: number;
  id: string;
}

export interface ListPage<T> {
  items: T[];
  /** Position of the last item when another page exists, else null. */
  next: ListPosition | null;
  /** Each item's own position: a merge of several cells' pages (api/cells/received.ts) continues from any. */
  positions: ListPosition[];
}

export interface SentPacket extends Pick<
  PacketRow,
  'type' | 'totalFen' | 'shareCount' | 'remainingFen' | 'remainingCount' | 'greeting' | 'status' | 'refundFen'
> {
  packetId: string;
  /** ISO 8601. */
  createdAt: string;
  expiresAt: string;
}

export interface ReceivedClaim {
  claimId: string;
  packetId: string;
  senderId: string;
  type: PacketType;
  greeting: string | null;
  amountFen: number;
  /** False until the credit transfer has landed in the wallet. */
  credited: boolean;
  /** ISO 8601. */
  claimedAt: string;
}

export interface ListArgs {
  limit: number;
  after?: ListPosition | undefined;
}

/** The largest page this module serves, whatever the caller asks. */
export const LIST_PAGE_MAX = 100;

// `'epoch' + n microseconds` is exact, unlike to_timestamp(double), which rounds beyond 15 digits.
const AFTER_CLAUSE = `($2::bigint IS NULL OR (created_at, id) < ('epoch'::timestamptz + $2::bigint * interval '1 microsecond', $3::text))`;
const CREATED_US = `(extract(epoch FROM created_at) * 1000000)::bigint`;

function pageArgs(args: ListArgs): [number | null, string | null, number] {
  const limit = Math.min(Math.max(1, Math.trunc(args.limit)), LIST_PAGE_MAX);
  return [args.after?.createdUs ?? null, args.after?.id ?? null, limit];
}

function pageOf<R extends { created_us: number; id: string }, T>(
  rows: R[],
  limit: number,
  toItem: (row: R) => T,
): ListPage<T> {
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map(toItem),
    positions: items.map((row) => ({ createdUs: row.created_us, id: row.id })),
    next: rows.length > limit && last ? { createdUs: last.created_us, id: last.id } : null,
  };
}

interface SentRow {
  id: string;
  created_us: number;
  type: PacketType;
  total_fen: number;
  share_count: number;
  remaining_fen: number;
  remaining_count: number;
  greeting: string | null;
  status: PacketStatus;
  refund_fen: number | null;
  created_at: Date;
  expires_at: Date;
}

export async function listSentPackets(
  db: Queryable,
  senderId: string,
  args: ListArgs,
): Promise<ListPage<SentPacket>> {
  const [afterUs, afterId, limit] = pageArgs(args);
  const { rows } = await db.query<SentRow>(
    `SELECT id, ${CREATED_US} AS created_us, type, total_fen, share_count, remaining_fen, remaining_count,
            greeting, status, refund_fen, created_at, expires_at
       FROM packets
      WHERE sender_id = $1 AND ${AFTER_CLAUSE}
      ORDER BY created_at DESC, id DESC
      LIMIT $4`,
    [senderId, afterUs, afterId, limit + 1],
  );
  return pageOf(rows, limit, (row) => ({
    packetId: row.id,
    type: row.type,
    totalFen: row.total_fen,
    shareCount: row.share_count,
    remainingFen: row.remaining_fen,
    remainingCount: row.remaining_count,
    greeting: row.greeting,
    status: row.status,
    refundFen: row.refund_fen,
    createdAt: row.created_at.toISOString(),
    expiresAt: row.expires_at.toISOString(),
  }));
}

interface ReceivedRow {
  id: string;
  created_us: number;
  packet_id: string;
  sender_id: string;
  type: PacketType;
  greeting: string | null;
  amount_fen: number;
  credited: boolean;
  created_at: Date;
}

export async function listReceivedClaims(
  db: Queryable,
  userId: string,
  args: ListArgs,
): Promise<ListPage<ReceivedClaim>> {
  const [afterUs, afterId, limit] = pageArgs(args);
  // The page is chosen on claims alone (its index), then joined to its packets: at most limit + 1 lookups.
  const { rows } = await db.query<ReceivedRow>(
    `SELECT c.id, c.created_us, c.packet_id, p.sender_id, p.type, p.greeting, c.amount_fen,
            c.credited_at IS NOT NULL AS credited, c.created_at
       FROM (SELECT day, id, ${CREATED_US} AS created_us, packet_id, amount_fen, credited_at, created_at
               FROM claims
              WHERE user_id = $1 AND ${AFTER_CLAUSE}
              ORDER BY created_at DESC, id DESC
              LIMIT $4) AS c
       JOIN packets p ON p.day = c.day AND p.id = c.packet_id
      ORDER BY c.created_at DESC, c.id DESC`,
    [userId, afterUs, afterId, limit + 1],
  );
  return pageOf(rows, limit, (row) => ({
    claimId: row.id,
    packetId: row.packet_id,
    senderId: row.sender_id,
    type: row.type,
    greeting: row.greeting,
    amountFen: row.amount_fen,
    credited: row.credited,
    claimedAt: row.created_at.toISOString(),
  }));
}
