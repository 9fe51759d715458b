/**
 * The audit's ledger invariants, one set-based SQL query each. Every query yields one `detail` line per violation,
 * so the runner can treat them alike; none of them loops over rows in JavaScript, which keeps the audit a
 * handful of scans even on hundreds of thousands of transfers.
 *
 * Account names and transfer ids come from the SQL functions that own them in SQL (wallet_account,
 * escrow_account, transfer_id in db/functions), held equal to domain/accounts.ts by a test; a packet's
 * transfers are found by their deterministic ids the same way.
 */
import { outsideColdDays, renderScoped, type AuditScope, type ScopeSql } from './auditScope';

/** Stable names: the report, the tests and operators' alerts all key on these. */
export const LedgerCheck = {
  BalanceEqualsTransfers: 'balance_equals_transfers',
  BalancesSumToZero: 'balances_sum_to_zero',
  NoNegativeBalance: 'no_negative_balance',
  AccountNamedAfterOwner: 'account_named_after_owner',
  TransferIdMatchesKind: 'transfer_id_matches_kind',
  TransferAccountsMatchKind: 'transfer_accounts_match_kind',
  TransferReferencesExist: 'transfer_references_exist',
  EscrowHasPacket: 'escrow_has_packet',
  PacketPaidOnce: 'packet_paid_once',
  ClaimsWithinTotal: 'claims_within_total',
  ClaimsWithinShares: 'claims_within_shares',
  OneClaimPerUser: 'one_claim_per_user',
  RemainingMatchesClaims: 'remaining_matches_claims',
  OneCreditPerClaim: 'one_credit_per_claim',
  CreditMatchesClaim: 'credit_matches_claim',
  RefundMatchesPacket: 'refund_matches_packet',
  FinishedPacketSettled: 'finished_packet_settled',
  EscrowMatchesPacket: 'escrow_matches_packet',
  EscrowEmptyWhenFinished: 'escrow_empty_when_finished',
  OutboxMatchesCredit: 'outbox_matches_credit',
} as const;

export type LedgerCheck = (typeof LedgerCheck)[keyof typeof LedgerCheck];

/**
 * A check whose SQL takes parameters (thresholds). The runner passes its own LIMIT as $1, so a check's
 * parameters are numbered from $2.
 */
export interface AuditQuery<Check extends string = string> {
  check: Check;
  sql: string;
  params: unknown[];
}

/** Per packet: how much was claimed, and how much of that the claims table says was credited. */
const claimTotals = (s: ScopeSql) => `claim_totals AS (
  SELECT packet_id, count(*) AS claim_count, sum(amount_fen) AS claimed_fen,
         count(*) FILTER (WHERE credited_at IS NULL) AS uncredited_count,
         coalesce(sum(amount_fen) FILTER (WHERE credited_at IS NOT NULL), 0) AS credited_fen
    FROM live_claims WHERE ${s.packets('packet_id')} GROUP BY packet_id)`;

/**
 * Each query selects a `detail` text column, one row per violation. Given a scope (ledger/auditScope.ts), a
 * query looks only at the accounts, packets or transfers in it; the two global totals always look at all.
 */
export const LEDGER_QUERIES: Readonly<Record<LedgerCheck, (s: ScopeSql) => string>> = {
  // A balance is the sum of its movements: the cold days' through their snapshots (day_snapshots holds rows of
  // cold days only, written with the day's cold_days row), the live days' through their transfers.
  [LedgerCheck.BalanceEqualsTransfers]: (s) => `
    WITH net AS (
      SELECT account_id, sum(delta_fen) AS net_fen FROM (
        SELECT credit_account_id AS account_id, amount_fen AS delta_fen FROM live_transfers
         WHERE ${s.accounts('credit_account_id')}
        UNION ALL
        SELECT debit_account_id, -amount_fen FROM live_transfers WHERE ${s.accounts('debit_account_id')}
        UNION ALL
        SELECT account_id, credited_fen - debited_fen FROM day_snapshots
         WHERE ${s.accounts('account_id')}) AS movements
      GROUP BY account_id)
    SELECT format('account %s stores %s fen but its transfers sum to %s fen',
                  a.id, a.balance_fen, coalesce(n.net_fen, 0)) AS detail
      FROM accounts a LEFT JOIN net n ON n.account_id = a.id
     WHERE ${s.accounts('a.id')} AND a.balance_fen <> coalesce(n.net_fen, 0)`,

  [LedgerCheck.BalancesSumToZero]: () => `
    SELECT format('all balances sum to %s fen instead of 0', total_fen) AS detail
      FROM (SELECT coalesce(sum(balance_fen), 0) AS total_fen FROM accounts) AS t
     WHERE total_fen <> 0`,

  [LedgerCheck.NoNegativeBalance]: () => `
    SELECT format('%s account %s holds %s fen', kind, id, balance_fen) AS detail
      FROM accounts WHERE kind NOT IN ('external', 'clearing') AND balance_fen < 0`,

  [LedgerCheck.AccountNamedAfterOwner]: (s) => `
    SELECT format('%s account %s is not named after its owner %s', kind, id, coalesce(owner_id, '(none)')) AS detail
      FROM accounts
     WHERE ${s.accounts('id')}
       AND (CASE kind WHEN 'wallet' THEN id = wallet_account(owner_id)
                      WHEN 'escrow' THEN id = escrow_account(owner_id)
                      WHEN 'clearing' THEN id = clearing_account(owner_id)
                      ELSE id LIKE 'external:%' AND owner_id IS NULL END) IS NOT TRUE`,

  [LedgerCheck.TransferIdMatchesKind]: (s) => `
    SELECT format('%s transfer %s (packet %s, claim %s) is not named after what it moves',
                  kind, id, coalesce(packet_id, '(none)'), coalesce(claim_id, '(none)')) AS detail
      FROM live_transfers
     WHERE ${s.transfers('seq')}
       AND (CASE kind WHEN 'deposit' THEN id LIKE 'deposit:_%' AND packet_id IS NULL AND claim_id IS NULL
                      WHEN 'pay' THEN id = transfer_id('pay', packet_id) AND claim_id IS NULL
                      WHEN 'credit' THEN id = transfer_id('credit', claim_id) AND packet_id IS NOT NULL
                      WHEN 'refund' THEN id = transfer_id('refund', packet_id) AND claim_id IS NULL
                      WHEN 'xcredit' THEN id = transfer_id('xcredit', claim_id) AND packet_id IS NOT NULL END) IS NOT TRUE`,

  // Deposits bring money in; pay moves a wallet into its packet's escrow; credits and refunds empty that
  // escrow into wallets, or (a credit of a user homed in another cell) into that cell's clearing account;
  // an xcredit pays a wallet here out of the clearing account of the packet's cell (docs/cells.md).
  // Anything else (wallet to wallet, escrow to another packet) has no business existing.
  [LedgerCheck.TransferAccountsMatchKind]: (s) => `
    SELECT format('%s transfer %s moves %s (%s) -> %s (%s)', t.kind, t.id, d.id, d.kind, c.id, c.kind) AS detail
      FROM live_transfers t
      JOIN accounts d ON d.id = t.debit_account_id
      JOIN accounts c ON c.id = t.credit_account_id
     WHERE ${s.transfers('t.seq')}
       AND (CASE t.kind
              WHEN 'deposit' THEN d.kind = 'external' AND c.kind = 'wallet'
              WHEN 'pay' THEN d.kind = 'wallet' AND c.kind = 'escrow' AND c.owner_id = t.packet_id
              WHEN 'credit' THEN d.kind = 'escrow' AND d.owner_id = t.packet_id AND c.kind IN ('wallet', 'clearing')
              WHEN 'xcredit' THEN d.kind = 'clearing' AND c.kind = 'wallet'
              ELSE d.kind = 'escrow' AND d.owner_id = t.packet_id AND c.kind = 'wallet' END) IS NOT TRUE`,

  [LedgerCheck.TransferReferencesExist]: (s) => `
    SELECT format('%s transfer %s names packet %s and claim %s, which the packets and claims tables do not hold',
                  t.kind, t.id, coalesce(t.packet_id, '(none)'), coalesce(t.claim_id, '(none)')) AS detail
      FROM live_transfers t
      LEFT JOIN live_packets p ON p.id = t.packet_id
      LEFT JOIN live_claims c ON c.id = t.claim_id
     WHERE t.kind NOT IN ('deposit', 'xcredit') AND ${s.transfers('t.seq')}
       AND (p.id IS NULL OR (t.kind = 'credit' AND c.packet_id IS DISTINCT FROM t.packet_id))`,

  // The pay transfer and the packet row commit together, so an escrow without its packet is stranded money.
  // A cold day's packets have left the live tables; their escrows were empty when the day went cold, and
  // balance_equals_transfers holds them to their snapshots since.
  [LedgerCheck.EscrowHasPacket]: (s) => `
    SELECT format('escrow account %s (%s fen) has no packet', a.id, a.balance_fen) AS detail
      FROM accounts a LEFT JOIN live_packets p ON p.id = a.owner_id
     WHERE a.kind = 'escrow' AND p.id IS NULL AND ${s.accounts('a.id')}
       AND ${outsideColdDays('day_of_id(a.owner_id)')}`,

  [LedgerCheck.PacketPaidOnce]: (s) => `
    SELECT format('packet %s (total %s fen from %s) is paid by %s', p.id, p.total_fen, p.sender_id,
                  CASE WHEN t.id IS NULL THEN 'no pay transfer'
                       ELSE format('%s fen from %s to %s', t.amount_fen, t.debit_account_id, t.credit_account_id)
                  END) AS detail
      FROM live_packets p LEFT JOIN live_transfers t ON t.id = transfer_id('pay', p.id)
     WHERE ${s.packets('p.id')}
       AND (t.id IS NULL OR t.kind <> 'pay' OR t.amount_fen <> p.total_fen
            OR t.debit_account_id <> wallet_account(p.sender_id) OR t.credit_account_id <> escrow_account(p.id))`,

  [LedgerCheck.ClaimsWithinTotal]: (s) => `
    WITH ${claimTotals(s)}
    SELECT format('packet %s: claims sum to %s fen, above its total of %s fen',
                  p.id, ct.claimed_fen, p.total_fen) AS detail
      FROM live_packets p JOIN claim_totals ct ON ct.packet_id = p.id
     WHERE ct.claimed_fen > p.total_fen`,

  [LedgerCheck.ClaimsWithinShares]: (s) => `
    WITH ${claimTotals(s)}
    SELECT format('packet %s: %s claims for %s shares', p.id, ct.claim_count, p.share_count) AS detail
      FROM live_packets p JOIN claim_totals ct ON ct.packet_id = p.id
     WHERE ct.claim_count > p.share_count`,

  [LedgerCheck.OneClaimPerUser]: (s) => `
    SELECT format('user %s holds %s claims on packet %s', user_id, count(*), packet_id) AS detail
      FROM live_claims WHERE ${s.packets('packet_id')} GROUP BY packet_id, user_id HAVING count(*) > 1`,

  [LedgerCheck.RemainingMatchesClaims]: (s) => `
    WITH ${claimTotals(s)}
    SELECT format('packet %s: remaining %s fen / %s shares, but claims leave %s fen / %s shares', p.id,
                  p.remaining_fen, p.remaining_count, p.total_fen - coalesce(ct.claimed_fen, 0),
                  p.share_count - coalesce(ct.claim_count, 0)) AS detail
      FROM live_packets p LEFT JOIN claim_totals ct ON ct.packet_id = p.id
     WHERE ${s.packets('p.id')}
       AND (p.remaining_fen <> p.total_fen - coalesce(ct.claimed_fen, 0)
            OR p.remaining_count <> p.share_count - coalesce(ct.claim_count, 0))`,

  // credited_at mirrors the credit transfer in the same transaction, so the two must agree exactly.
  [LedgerCheck.OneCreditPerClaim]: (s) => `
    WITH credits AS (SELECT claim_id, count(*) AS credit_count FROM live_transfers
                      WHERE kind = 'credit' AND ${s.packets('packet_id')} GROUP BY claim_id)
    SELECT format('claim %s has %s credit transfers and credited_at %s', c.id, coalesce(k.credit_count, 0),
                  CASE WHEN c.credited_at IS NULL THEN 'unset' ELSE 'set' END) AS detail
      FROM live_claims c LEFT JOIN credits k ON k.claim_id = c.id
     WHERE ${s.packets('c.packet_id')}
       AND (coalesce(k.credit_count, 0) > 1 OR (coalesce(k.credit_count, 0) = 1) <> (c.credited_at IS NOT NULL))`,

  [LedgerCheck.CreditMatchesClaim]: (s) => `
    SELECT format('credit %s moves %s fen %s -> %s, but claim %s is %s fen from packet %s to user %s',
                  t.id, t.amount_fen, t.debit_account_id, t.credit_account_id,
                  c.id, c.amount_fen, c.packet_id, c.user_id) AS detail
      FROM live_transfers t JOIN live_claims c ON c.id = t.claim_id
     WHERE t.kind = 'credit' AND ${s.packets('c.packet_id')}
       AND (t.amount_fen <> c.amount_fen OR t.debit_account_id <> escrow_account(c.packet_id)
            OR (t.credit_account_id <> wallet_account(c.user_id)
                AND NOT EXISTS (SELECT 1 FROM xcredit_outbox o
                                 WHERE o.claim_id = c.id AND o.user_id = c.user_id AND o.amount_fen = c.amount_fen
                                   AND o.clearing_account_id = t.credit_account_id)))`,

  // A refund goes back to the sender, only once the packet closed, and refund_fen records it: positive
  // exactly when the transfer exists (a fully claimed packet finishes with refund_fen 0 and no transfer).
  [LedgerCheck.RefundMatchesPacket]: (s) => `
    SELECT format('packet %s (%s, refund_fen %s) has refund %s', p.id, p.status,
                  coalesce(p.refund_fen::text, 'null'),
                  CASE WHEN t.id IS NULL THEN 'transfer: none'
                       ELSE format('of %s fen %s -> %s', t.amount_fen, t.debit_account_id, t.credit_account_id)
                  END) AS detail
      FROM live_packets p LEFT JOIN live_transfers t ON t.id = transfer_id('refund', p.id)
     WHERE ${s.packets('p.id')}
       AND ((t.id IS NOT NULL AND (p.status = 'open' OR t.amount_fen IS DISTINCT FROM p.refund_fen
                                   OR t.debit_account_id <> escrow_account(p.id)
                                   OR t.credit_account_id <> wallet_account(p.sender_id)))
            OR (t.id IS NULL AND coalesce(p.refund_fen, 0) <> 0)
            OR (p.status <> 'open' AND p.refund_fen IS NULL))`,

  // A settled packet, closed (refunded, credits still owed) or finished, splits its total between claims and
  // the refund; a finished one also owes no credit.
  [LedgerCheck.FinishedPacketSettled]: (s) => `
    WITH ${claimTotals(s)}
    SELECT format('%s packet %s: claims %s fen + refund %s fen <> total %s fen, %s claims uncredited',
                  p.status, p.id, coalesce(ct.claimed_fen, 0), coalesce(p.refund_fen::text, 'null'), p.total_fen,
                  coalesce(ct.uncredited_count, 0)) AS detail
      FROM live_packets p LEFT JOIN claim_totals ct ON ct.packet_id = p.id
     WHERE p.status <> 'open' AND ${s.packets('p.id')}
       AND (coalesce(ct.claimed_fen, 0) + p.refund_fen IS DISTINCT FROM p.total_fen
            OR (p.status = 'finished' AND coalesce(ct.uncredited_count, 0) > 0))`,

  // Cross-checks the ledger against the packet tables: what the escrow holds must be what the packet paid in
  // minus the claims marked credited and the refund.
  [LedgerCheck.EscrowMatchesPacket]: (s) => `
    WITH ${claimTotals(s)}
    SELECT format('escrow of packet %s holds %s fen; total %s - credited %s - refunded %s = %s fen', p.id,
                  coalesce(a.balance_fen::text, '(no account)'), p.total_fen, coalesce(ct.credited_fen, 0),
                  coalesce(r.amount_fen, 0),
                  p.total_fen - coalesce(ct.credited_fen, 0) - coalesce(r.amount_fen, 0)) AS detail
      FROM live_packets p
      LEFT JOIN accounts a ON a.id = escrow_account(p.id)
      LEFT JOIN claim_totals ct ON ct.packet_id = p.id
      LEFT JOIN live_transfers r ON r.id = transfer_id('refund', p.id)
     WHERE ${s.packets('p.id')}
       AND a.balance_fen IS DISTINCT FROM p.total_fen - coalesce(ct.credited_fen, 0) - coalesce(r.amount_fen, 0)`,

  [LedgerCheck.EscrowEmptyWhenFinished]: (s) => `
    SELECT format('finished packet %s still holds %s fen in escrow', p.id, a.balance_fen) AS detail
      FROM live_packets p JOIN accounts a ON a.id = escrow_account(p.id)
     WHERE p.status = 'finished' AND a.balance_fen <> 0 AND ${s.packets('p.id')}`,

  // A cross-cell credit's outbox row and its credit into clearing commit together, with the claim's fields.
  [LedgerCheck.OutboxMatchesCredit]: (s) => `
    SELECT format('outbox row of claim %s (%s fen for %s via %s) has credit %s', o.claim_id, o.amount_fen,
                  o.user_id, o.clearing_account_id,
                  CASE WHEN t.id IS NULL THEN 'none'
                       ELSE format('%s fen -> %s', t.amount_fen, t.credit_account_id) END) AS detail
      FROM xcredit_outbox o
      LEFT JOIN live_transfers t ON t.id = transfer_id('credit', o.claim_id)
      LEFT JOIN live_claims c ON c.id = o.claim_id
     WHERE ${s.packets('o.packet_id')} AND ${outsideColdDays('day_of_id(o.claim_id)')}
       AND (t.id IS NULL OR t.credit_account_id <> o.clearing_account_id OR t.amount_fen <> o.amount_fen
            OR c.user_id IS DISTINCT FROM o.user_id OR c.packet_id IS DISTINCT FROM o.packet_id)`,
};

/** The ledger checks as the runner takes them, restricted to `scope` when one is given. */
export function ledgerQueries(scope?: AuditScope): AuditQuery<LedgerCheck>[] {
  return (Object.entries(LEDGER_QUERIES) as [LedgerCheck, (s: ScopeSql) => string][]).map(
    ([check, build]) => ({
      check,
      ...renderScoped(scope, [], build),
    }),
  );
}
