/**
 * The home cell's side of clearing between cells (docs/cells.md): a batch of cross-cell credits from a
 * packet's cell is posted in ONE statement, `xcredit:<claimId>` from `clearing:<fromCell>:<lane>` into
 * `wallet:<userId>`, opening the wallet and the clearing account when they are new. The transfer id is the
 * idempotency key: a resend writes nothing and answers `replayed`; the same id with other fields (amount,
 * user, lane, from-cell) is a `conflict` and is never applied. Items that cannot be right here (a user homed
 * elsewhere, a claim id not of its packet, a packet of another cell) are `refused` before the statement, so
 * a bad item never fails, or blocks, the good ones of its batch.
 */
import type { Queryable } from '../db';
import { clearingAccount, USER_ID_PATTERN, walletAccount, transferIds } from '../domain/accounts';
import { cellOfPacketId, homeCellOf } from '../domain/cells';

/** One cross-cell credit as the settle pump sends it. */
export interface XcreditItem {
  claimId: string;
  packetId: string;
  userId: string;
  lane: number;
  amountFen: number;
}

export type XcreditStatus = 'applied' | 'replayed' | 'conflict' | 'refused';

export interface XcreditResult {
  claimId: string;
  status: XcreditStatus;
  /** Why a conflict or refusal: for the sender's parked row and the logs. */
  reason?: string;
}

/** Lanes are pump shards; more than this is a malformed item, not a configuration. */
export const XCREDIT_LANE_MAX = 1023;

/** Why an item cannot be posted here, or undefined when it can. */
function refusalOf(item: XcreditItem, fromCell: string, cells: { self: string; all: readonly string[] }) {
  if (!USER_ID_PATTERN.test(item.userId)) return 'the user id is malformed';
  if (homeCellOf(item.userId, cells.all) !== cells.self) return `user ${item.userId} is not homed here`;
  if (cellOfPacketId(item.packetId) !== fromCell) return `packet ${item.packetId} is not of cell ${fromCell}`;
  const seq = item.claimId.slice(item.packetId.length + 1);
  if (!item.claimId.startsWith(`${item.packetId}-`) || !/^[1-9][0-9]{0,8}$/.test(seq))
    return `claim ${item.claimId} is not a claim of packet ${item.packetId}`;
  if (!Number.isSafeInteger(item.amountFen) || item.amountFen <= 0) return 'the amount is not a positive fen';
  if (!Number.isInteger(item.lane) || item.lane < 0 || item.lane > XCREDIT_LANE_MAX) return 'bad lane';
  return undefined;
}

interface PostedRow {
  claim_id: string;
  applied: boolean;
  debit_account_id: string | null;
  credit_account_id: string | null;
  amount_fen: number | null;
  kind: string | null;
  packet_id: string | null;
}

/**
 * The statement: transfers inserted in claim-id order (ON CONFLICT DO NOTHING: a resend writes nothing),
 * then each touched account's net movement upserted in id order (a new wallet or clearing account is created
 * with it). The transfers' foreign keys are checked at the end of the statement, after the accounts exist.
 * The final select reads the transfers that existed before the statement (its snapshot), to tell a replay
 * from a conflict.
 */
const POST_XCREDITS_SQL = `
  WITH input AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[])
      AS i(claim_id, packet_id, user_id, amount_fen, clearing_id)),
  posted AS (
    INSERT INTO transfers (day, id, debit_account_id, credit_account_id, amount_fen, kind, packet_id, claim_id)
    SELECT day_of_id(claim_id), transfer_id('xcredit', claim_id), clearing_id, wallet_account(user_id), amount_fen, 'xcredit', packet_id,
           claim_id
      FROM input ORDER BY claim_id
    ON CONFLICT (day, id) DO NOTHING
    RETURNING claim_id, debit_account_id, credit_account_id, amount_fen),
  moves AS (
    SELECT debit_account_id AS id, 'clearing' AS kind, substr(debit_account_id, 10) AS owner_id,
           -amount_fen AS delta_fen FROM posted
    UNION ALL
    SELECT credit_account_id, 'wallet', substr(credit_account_id, 8), amount_fen FROM posted),
  balances AS (
    INSERT INTO accounts (id, kind, owner_id, balance_fen)
    SELECT id, min(kind), min(owner_id), sum(delta_fen) FROM moves GROUP BY id ORDER BY id
    ON CONFLICT (id) DO UPDATE SET balance_fen = accounts.balance_fen + EXCLUDED.balance_fen
    RETURNING id)
  SELECT i.claim_id, p.claim_id IS NOT NULL AS applied, t.debit_account_id, t.credit_account_id,
         t.amount_fen, t.kind, t.packet_id
    FROM input i LEFT JOIN posted p ON p.claim_id = i.claim_id
    LEFT JOIN transfers t ON t.day = day_of_id(i.claim_id) AND t.id = transfer_id('xcredit', i.claim_id)
`;

/** Whether an existing transfer is exactly the xcredit this item asks for. */
function sameXcredit(row: Omit<PostedRow, 'claim_id' | 'applied'>, item: XcreditItem, fromCell: string) {
  return (
    row.kind === 'xcredit' &&
    row.debit_account_id === clearingAccount(fromCell, item.lane) &&
    row.credit_account_id === walletAccount(item.userId) &&
    row.amount_fen === item.amountFen &&
    row.packet_id === item.packetId
  );
}

/**
 * Posts a batch of cross-cell credits from `fromCell` in this (home) cell. One result per item, in order.
 * Throws only when Postgres fails (the whole batch is then retried by the sender, harmlessly).
 */
export async function postXcredits(
  db: Queryable,
  cells: { self: string; all: readonly string[] },
  fromCell: string,
  items: readonly XcreditItem[],
): Promise<XcreditResult[]> {
  const fromOther = fromCell !== cells.self && cells.all.includes(fromCell);
  const seen = new Set<string>();
  // Refusals by position (a claim named twice is refused the second time only); the rest are posted.
  const refused = items.map((item): XcreditResult | undefined => {
    const reason = seen.has(item.claimId)
      ? 'the claim is named twice in the batch'
      : fromOther
        ? refusalOf(item, fromCell, cells)
        : `${fromCell} is not another cell`;
    seen.add(item.claimId);
    return reason === undefined ? undefined : { claimId: item.claimId, status: 'refused', reason };
  });
  const valid = items.filter((_, index) => refused[index] === undefined);
  const posted = new Map<string, XcreditResult>();
  if (valid.length > 0) {
    const { rows } = await db.query<PostedRow>(POST_XCREDITS_SQL, [
      valid.map((item) => item.claimId),
      valid.map((item) => item.packetId),
      valid.map((item) => item.userId),
      valid.map((item) => item.amountFen),
      valid.map((item) => clearingAccount(fromCell, item.lane)),
    ]);
    const byClaim = new Map(rows.map((row) => [row.claim_id, row]));
    // A transfer committed by a concurrent resend after this statement's snapshot: read it now.
    const unseen = rows.filter((row) => !row.applied && row.kind === null).map((row) => row.claim_id);
    if (unseen.length > 0) {
      const { rows: late } = await db.query<PostedRow>(
        `SELECT claim_id, false AS applied, debit_account_id, credit_account_id, amount_fen, kind, packet_id
         FROM unnest($1::text[]) AS k(id)
         CROSS JOIN LATERAL (SELECT * FROM transfers t WHERE t.day = transfer_day(k.id) AND t.id = k.id OFFSET 0) AS t`,
        [unseen.map((claimId) => transferIds.xcredit(claimId))],
      );
      for (const row of late) byClaim.set(row.claim_id, row);
    }
    for (const item of valid) posted.set(item.claimId, classify(item, byClaim.get(item.claimId), fromCell));
  }
  return items.map((item, index) => refused[index] ?? posted.get(item.claimId)!);
}

function classify(item: XcreditItem, row: PostedRow | undefined, fromCell: string): XcreditResult {
  if (row?.applied) return { claimId: item.claimId, status: 'applied' };
  if (row && row.kind !== null && sameXcredit(row, item, fromCell))
    return { claimId: item.claimId, status: 'replayed' };
  const reason =
    `${transferIds.xcredit(item.claimId)} exists as ${row?.amount_fen ?? '?'} fen ` +
    `${row?.debit_account_id ?? '?'} -> ${row?.credit_account_id ?? '?'}`;
  return { claimId: item.claimId, status: 'conflict', reason };
}
