/**
 * What a user may read about their own money: the wallet balance with the amount still on its way (opened
 * claims not yet credited), and bills, the wallet's transfers newest first. Bills page by `transfers.seq`,
 * a monotonic sequence, so a page boundary never skips or repeats a line even when transfers share a
 * timestamp. Turning the position into an opaque cursor is the HTTP layer's business, not this module's.
 *
 * Transfers are partitioned by day (docs/day-tables.md), the day of the packet a line belongs to (a deposit's:
 * the day it was made). Bills page by (day, seq), newest first: a page is an ordered walk down the newest
 * partitions that stops once it has its lines, so the common page reads one partition. Within a day lines
 * are in commit order; a credit of yesterday's packet committed today is listed under yesterday, with its
 * packet's other lines. Lines of archived (cold) days are not listed: the last page says they are archived.
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

/** Where a page of bills ends: the last line's day (YYYY-MM-DD) and seq. */
export interface BillsPosition {
  day: string;
  seq: number;
}

/**
 * On the last page of a wallet with lines on cold days (docs/day-tables.md, "Cold days"): those lines are
 * archived, not listed, and this says so with a stable code and the newest such day.
 */
export interface BillsArchived {
  code: typeof BILLS_ARCHIVED;
  /** The newest archived day (YYYY-MM-DD) with lines of this wallet. */
  throughDay: string;
}

export const BILLS_ARCHIVED = 'bills_archived';

export interface BillsPage {
  items: Bill[];
  /** Pass back as `after` for the next page; null on the last page. */
  next: BillsPosition | null;
  /** Set on the last page when older lines are archived; null otherwise. */
  archived: BillsArchived | null;
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

const DAY_PATTERN = /^\d{4}-\d{2}-\d{2}$/;

function assertPageArgs(limit: number, after: BillsPosition | undefined): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
  if (after !== undefined && (!Number.isSafeInteger(after.seq) || after.seq < 1)) {
    throw new RangeError('after.seq must be a positive integer');
  }
  if (after !== undefined && !DAY_PATTERN.test(after.day))
    throw new RangeError('after.day must be YYYY-MM-DD');
}

/**
 * One side of the wallet's lines (the debit or the credit column) in one window of days, newest first by
 * (day, seq), strictly before a position. The window's bounds are parameters, so Postgres prunes the days
 * outside it before it plans or starts a scan ($2, $3), and only the window's partitions cost anything. The
 * ORDER BY names the table's column: a bare `day` would be the text the SELECT list formats, which no index
 * holds, and Postgres would read and sort every line the wallet ever had.
 */
const billSide = (column: string, signedFen: string) =>
  `(SELECT to_char(day, 'YYYY-MM-DD') AS day, id, seq, kind, ${signedFen} AS signed_fen, packet_id, claim_id,
          created_at FROM transfers
     WHERE ${column} = $1 AND day BETWEEN $2::date AND $3::date AND (day, seq) < ($4::date, $5::bigint)
     ORDER BY transfers.day DESC, seq DESC LIMIT $6)`;

const BILLS_WINDOW_SQL = `SELECT * FROM (${billSide('debit_account_id', '-amount_fen')}
                  UNION ALL ${billSide('credit_account_id', 'amount_fen')}) AS lines
    ORDER BY day DESC, seq DESC LIMIT $6`;

/**
 * The windows a page walks, newest first, as days back from where it starts: the last week, the month
 * before it, and everything older. A wallet in use fills its page in the first (one query over a week's
 * partitions, however many days the tables hold); a quiet one walks on, a query a window.
 */
const BILLS_WINDOWS_DAYS: readonly (readonly [number, number])[] = [
  [0, 6],
  [7, 36],
  [37, Number.POSITIVE_INFINITY],
];

const dayBefore = (day: string, days: number): string =>
  days === Number.POSITIVE_INFINITY
    ? '-infinity'
    : new Date(Date.parse(`${day}T00:00:00Z`) - days * 86_400_000).toISOString().slice(0, 10);

interface BillRow {
  day: string;
  id: string;
  seq: number;
  kind: TransferKind;
  signed_fen: number;
  packet_id: string | null;
  claim_id: string | null;
  created_at: Date;
}

/**
 * The wallet's transfers before `after` (all when absent), newest first by (day, seq), at most
 * min(limit, BILLS_PAGE_MAX). A user without a wallet has no bills.
 */
export async function listBills(
  db: Queryable,
  userId: string,
  page: { limit: number; after?: BillsPosition | undefined },
): Promise<BillsPage> {
  assertUserId(userId);
  assertPageArgs(page.limit, page.after);
  const limit = Math.min(page.limit, BILLS_PAGE_MAX);
  // Each branch walks its own (account, day DESC, seq DESC) index, partition by partition from the newest
  // day, and stops after limit + 1 rows; the extra row only tells whether another page exists. A transfer
  // never has the same account on both sides, so the union holds no duplicates. The first page starts at
  // tomorrow (UTC), which holds the lines of a clock a little ahead; the days after it are empty.
  const want = limit + 1;
  const startDay = page.after?.day ?? dayBefore(new Date().toISOString().slice(0, 10), -1);
  const before = page.after ? [page.after.day, page.after.seq] : ['infinity', 0];
  const rows: BillRow[] = [];
  for (const [newestBack, oldestBack] of BILLS_WINDOWS_DAYS) {
    const hi = newestBack === 0 && !page.after ? 'infinity' : dayBefore(startDay, newestBack);
    const window = await db.query<BillRow>(BILLS_WINDOW_SQL, [
      walletAccount(userId),
      dayBefore(startDay, oldestBack),
      hi,
      ...before,
      want - rows.length,
    ]);
    rows.push(...window.rows);
    if (rows.length >= want) break;
  }
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  const next = rows.length > limit && last ? { day: last.day, seq: last.seq } : null;
  return {
    items: items.map((row) => ({
      transferId: row.id,
      kind: row.kind,
      amountFen: row.signed_fen,
      packetId: row.packet_id,
      claimId: row.claim_id,
      createdAt: row.created_at.toISOString(),
    })),
    next,
    archived: next === null ? await archivedThrough(db, walletAccount(userId)) : null,
  };
}

/**
 * Whether the wallet has lines on archived days: its snapshots say so without reading the archive (one probe
 * of the (account_id, day) key). Asked on the last page only, where the live lines run out.
 */
async function archivedThrough(db: Queryable, accountId: string): Promise<BillsArchived | null> {
  const { rows } = await db.query<{ day: string | null }>(
    `SELECT to_char(max(day), 'YYYY-MM-DD') AS day FROM day_snapshots WHERE account_id = $1`,
    [accountId],
  );
  const day = rows[0]?.day ?? null;
  return day === null ? null : { code: BILLS_ARCHIVED, throughDay: day };
}
