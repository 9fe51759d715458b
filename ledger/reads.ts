/**
 * What a user may read about their own money: the wallet balance with the amount still on its way (opened
 * claims not yet credited), and bills, the wallet's transfers newest first. Bills page by `transfers.seq`,
 * a monotonic sequence, so a page boundary never skips or repeats a line even when transfers share a
 * timestamp. Turning `seq` into an opaque cursor is the HTTP layer's business, not this module's.
 */
import type { Queryable } from '../db';
import { assertUserId, walletAccount } from '../domain/accounts';
import type { TransferKind } from './transfers';

/** The largest page a caller can ask for; bigger requests get this many lines. */
export const BILLS_PAGE_MAX = 100;

export interface Balance {
  userId: string;
  balanceFen: number;
  /** Opened claims whose credit transfer has not landed yet. */
  pendingFen: number;
}

export interface Bill {
  transferId: string;
  kind: TransferKind;
  /** Positive when money came into the wallet, negative when it left. */
  amountFen: number;
  packetId: string | null;
  claimId: string | null;
  /** ISO 8601. */
  createdAt: string;
}

export interface BillsPage {
  items: Bill[];
  /** Pass back as `afterSeq` for the next page; null on the last page. */
  nextAfterSeq: number | null;
}

export async function getBalance(db: Queryable, userId: string): Promise<Balance> {
  assertUserId(userId);
  // One statement, so balance and pending come from the same snapshot: a credit landing in between cannot
  // be counted twice (in both) or not at all (in neither).
  const { rows } = await db.query<{ balance_fen: number | null; pending_fen: number }>(
    `SELECT (SELECT balance_fen FROM accounts WHERE id = $1) AS balance_fen,
            (SELECT coalesce(sum(amount_fen), 0)::bigint FROM claims
              WHERE user_id = $2 AND credited_at IS NULL) AS pending_fen`,
    [walletAccount(userId), userId],
  );
  const row = rows[0];
  return { userId, balanceFen: row?.balance_fen ?? 0, pendingFen: row?.pending_fen ?? 0 };
}

function assertPageArgs(limit: number, afterSeq: number | undefined): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
  if (afterSeq !== undefined && (!Number.isSafeInteger(afterSeq) || afterSeq < 1)) {
    throw new RangeError('afterSeq must be a positive integer');
  }
}

interface BillRow {
  id: string;
  seq: number;
  kind: TransferKind;
  signed_fen: number;
  packet_id: string | null;
  claim_id: string | null;
  created_at: Date;
}

/**
 * The wallet's transfers with `seq` below `afterSeq` (all when absent), newest first, at most
 * min(limit, BILLS_PAGE_MAX). A user without a wallet has no bills.
 */
export async function listBills(
  db: Queryable,
  userId: string,
  page: { limit: number; afterSeq?: number },
): Promise<BillsPage> {
  assertUserId(userId);
  assertPageArgs(page.limit, page.afterSeq);
  const limit = Math.min(page.limit, BILLS_PAGE_MAX);
  // Each branch walks its own (account, seq DESC) index and stops after limit + 1 rows; the extra row only
  // tells whether another page exists. A transfer never has the same account on both sides, so the union
  // holds no duplicates.
  const { rows } = await db.query<BillRow>(
    `SELECT * FROM (
       (SELECT id, seq, kind, -amount_fen AS signed_fen, packet_id, claim_id, created_at FROM transfers
         WHERE debit_account_id = $1 AND ($2::bigint IS NULL OR seq < $2)
         ORDER BY seq DESC LIMIT $3)
       UNION ALL
       (SELECT id, seq, kind, amount_fen, packet_id, claim_id, created_at FROM transfers
         WHERE credit_account_id = $1 AND ($2::bigint IS NULL OR seq < $2)
         ORDER BY seq DESC LIMIT $3)
     ) AS lines ORDER BY seq DESC LIMIT $3`,
    [walletAccount(userId), page.afterSeq ?? null, limit + 1],
  );
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return {
    items: items.map((row) => ({
      transferId: row.id,
      kind: row.kind,
      amountFen: row.signed_fen,
      packetId: row.packet_id,
      claimId: row.claim_id,
      createdAt: row.created_at.toISOString(),
    })),
    nextAfterSeq: rows.length > limit && last ? last.seq : null,
  };
}
