/**
 * Exact money figures read back from Postgres, so tests can compare what moved with what they expect to
 * the fen, instead of bounds that the schema's CHECK constraints already guarantee.
 */
import type { Queryable } from '../../db';
import { escrowAccount, walletAccount } from '../../domain/accounts';

export interface ClaimFigure {
  claimId: string;
  userId: string;
  amountFen: number;
}

export async function claimsOf(db: Queryable, packetId: string): Promise<ClaimFigure[]> {
  const { rows } = await db.query<ClaimFigure>(
    'SELECT id AS "claimId", user_id AS "userId", amount_fen AS "amountFen" FROM claims WHERE packet_id = $1 ORDER BY seq',
    [packetId],
  );
  return rows;
}

export const sumOf = (claims: readonly { amountFen: number }[]): number =>
  claims.reduce((sum, claim) => sum + claim.amountFen, 0);

export interface EscrowFigures {
  creditCount: number;
  creditFen: number;
  refundFen: number;
  balanceFen: number;
}

/** Everything that left a packet's escrow, by kind (credits to claimants, the refund), and what is left. */
export async function escrowOutflows(db: Queryable, packetId: string): Promise<EscrowFigures> {
  const { rows } = await db.query<EscrowFigures>(
    `SELECT count(*) FILTER (WHERE kind = 'credit')::int AS "creditCount",
            coalesce(sum(amount_fen) FILTER (WHERE kind = 'credit'), 0)::bigint AS "creditFen",
            coalesce(sum(amount_fen) FILTER (WHERE kind = 'refund'), 0)::bigint AS "refundFen",
            (SELECT balance_fen FROM accounts WHERE id = $1) AS "balanceFen"
       FROM transfers WHERE debit_account_id = $1`,
    [escrowAccount(packetId)],
  );
  return rows[0]!;
}

/** The wallet balance of each user (0 for a user without a wallet), keyed by user id. */
export async function walletBalances(
  db: Queryable,
  userIds: readonly string[],
): Promise<Map<string, number>> {
  const { rows } = await db.query<{ id: string; balance_fen: number }>(
    'SELECT id, balance_fen FROM accounts WHERE id = ANY($1::text[])',
    [userIds.map(walletAccount)],
  );
  const byAccount = new Map(rows.map((row) => [row.id, row.balance_fen]));
  return new Map(userIds.map((userId) => [userId, byAccount.get(walletAccount(userId)) ?? 0]));
}

/**
 * Claims of these packets that do not have exactly one credit transfer, of their own amount, from their
 * packet's escrow into their claimant's wallet, or that are not marked credited, with what was found.
 * Empty when every claim was credited exactly once.
 */
export async function claimsNotCreditedOnce(
  db: Queryable,
  packetIds: readonly string[],
): Promise<{ claimId: string; credits: number; creditedFen: number; amountFen: number }[]> {
  const { rows } = await db.query<{
    claimId: string;
    credits: number;
    creditedFen: number;
    amountFen: number;
  }>(
    `SELECT c.id AS "claimId", count(t.id)::int AS credits, coalesce(sum(t.amount_fen), 0)::bigint AS "creditedFen",
            c.amount_fen AS "amountFen"
       FROM claims c
       LEFT JOIN transfers t ON t.claim_id = c.id AND t.kind = 'credit'
      WHERE c.packet_id = ANY($1::text[])
      GROUP BY c.id, c.amount_fen, c.credited_at
     HAVING count(t.id) <> 1 OR coalesce(sum(t.amount_fen), 0) <> c.amount_fen OR c.credited_at IS NULL
         OR bool_or(t.debit_account_id <> 'escrow:' || c.packet_id OR t.credit_account_id <> 'wallet:' || c.user_id)`,
    [packetIds],
  );
  return rows;
}
