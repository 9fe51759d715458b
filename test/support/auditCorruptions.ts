/**
 * Every kind of damage the audit claims to see, one per rule, each against the honest books of
 * auditBooks.ts; and the honest states next to each threshold, which must pass.
 */
import type { Tx } from '../../db';
import { AuditCheck } from '../../ledger/audit';
import { exec, P1, P2, P3, P3_CREDITED, P3_UNCREDITED, post, SENDER, type Corruption } from './auditBooks';

/** Arithmetic and bookkeeping: the books disagree with themselves. */
export const LEDGER_CORRUPTIONS: Corruption[] = [
  {
    damage: 'a balance edited by hand',
    check: AuditCheck.BalanceEqualsTransfers,
    mentions: 'wallet:a',
    corrupt: exec(`UPDATE accounts SET balance_fen = balance_fen + 1 WHERE id = 'wallet:a'`),
  },
  {
    damage: 'money appearing from nowhere',
    check: AuditCheck.BalancesSumToZero,
    mentions: 'instead of 0',
    corrupt: exec(`UPDATE accounts SET balance_fen = balance_fen + 1 WHERE id = 'wallet:a'`),
  },
  {
    damage: 'a negative escrow once its CHECK is dropped',
    check: AuditCheck.NoNegativeBalance,
    mentions: `escrow:${P3}`,
    corrupt: async (tx) => {
      await tx.query('ALTER TABLE accounts DROP CONSTRAINT accounts_non_negative');
      await post(`refund:${P3}`, 'refund', `escrow:${P3}`, `wallet:${SENDER}`, 10_000)(tx);
    },
  },
  {
    damage: 'an account named after someone else',
    check: AuditCheck.AccountNamedAfterOwner,
    mentions: 'wallet:mallory',
    corrupt: exec(`INSERT INTO accounts (id, kind, owner_id) VALUES ('wallet:mallory', 'wallet', 'a')`),
  },
  {
    damage: 'a deposit filed under a pay id',
    check: AuditCheck.TransferIdMatchesKind,
    mentions: 'pay:bogus',
    corrupt: post('pay:bogus', 'deposit', 'external:funding', 'wallet:a', 5),
  },
  {
    damage: 'a deposit straight into an escrow',
    check: AuditCheck.TransferAccountsMatchKind,
    mentions: 'deposit:into-escrow',
    corrupt: post('deposit:into-escrow', 'deposit', 'external:funding', `escrow:${P3}`, 5),
  },
  {
    damage: 'a credit for a claim that does not exist',
    check: AuditCheck.TransferReferencesExist,
    mentions: 'credit:ghost',
    corrupt:
      exec(`INSERT INTO transfers (day, id, kind, debit_account_id, credit_account_id, amount_fen, packet_id, claim_id)
                   VALUES (transfer_day('credit:ghost'), 'credit:ghost', 'credit', 'escrow:${P3}', 'wallet:a', 1, '${P3}', 'ghost')`),
  },
  {
    damage: 'an escrow with no packet',
    check: AuditCheck.EscrowHasPacket,
    mentions: 'escrow:orphan',
    corrupt: exec(`INSERT INTO accounts (id, kind, owner_id) VALUES ('escrow:orphan', 'escrow', 'orphan')`),
  },
  {
    damage: 'a packet total that differs from its payment',
    check: AuditCheck.PacketPaidOnce,
    mentions: P3,
    corrupt: exec(
      `UPDATE packets SET total_fen = total_fen + 1, remaining_fen = remaining_fen + 1 WHERE id = '${P3}'`,
    ),
  },
  {
    damage: 'claims worth more than the packet',
    check: AuditCheck.ClaimsWithinTotal,
    mentions: P3,
    corrupt: exec(`UPDATE claims SET amount_fen = 5000 WHERE id = '${P3_UNCREDITED}'`),
  },
  {
    damage: 'more claims than shares',
    check: AuditCheck.ClaimsWithinShares,
    mentions: P3,
    corrupt: exec(`UPDATE packets SET share_count = 1, remaining_count = 0 WHERE id = '${P3}'`),
  },
  {
    damage: 'a second claim by the same user once the unique constraint is gone',
    check: AuditCheck.OneClaimPerUser,
    mentions: 'user a',
    corrupt: exec(
      'ALTER TABLE claims DROP CONSTRAINT claims_one_per_user',
      `INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen)
       VALUES (day_of_id('${P3}'), 'p3-3', '${P3}', 'a', 3, 1)`,
      `UPDATE packets SET remaining_fen = remaining_fen - 1, remaining_count = remaining_count - 1 WHERE id = '${P3}'`,
    ),
  },
  {
    damage: 'remaining shares out of step with the claims',
    check: AuditCheck.RemainingMatchesClaims,
    mentions: P3,
    corrupt: exec(`UPDATE packets SET remaining_count = remaining_count - 1 WHERE id = '${P3}'`),
  },
  {
    damage: 'an uncredited claim slipped into a finished packet',
    check: AuditCheck.FinishedPacketSettled,
    mentions: P1,
    corrupt: exec(
      `INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen)
       VALUES (day_of_id('${P1}'), 'p1-late', '${P1}', 'c', 3, 1)`,
    ),
  },
  {
    damage: 'a second credit for one claim',
    check: AuditCheck.OneCreditPerClaim,
    mentions: P3_CREDITED,
    corrupt: post(`credit:${P3_CREDITED}-again`, 'credit', `escrow:${P3}`, 'wallet:a', 50),
  },
  {
    damage: 'credited_at set with no credit transfer',
    check: AuditCheck.OneCreditPerClaim,
    mentions: P3_UNCREDITED,
    corrupt: exec(`UPDATE claims SET credited_at = now() WHERE id = '${P3_UNCREDITED}'`),
  },
  {
    damage: 'a credit paid to the wrong wallet',
    check: AuditCheck.CreditMatchesClaim,
    mentions: `credit:${P3_CREDITED}`,
    corrupt: exec(`UPDATE transfers SET credit_account_id = 'wallet:c' WHERE id = 'credit:${P3_CREDITED}'`),
  },
  {
    damage: 'a credit into clearing without its outbox row',
    check: AuditCheck.CreditMatchesClaim,
    mentions: `credit:${P3_CREDITED}`,
    corrupt: exec(
      `INSERT INTO accounts (id, kind, owner_id) VALUES ('clearing:s:0', 'clearing', 's:0')`,
      `UPDATE transfers SET credit_account_id = 'clearing:s:0' WHERE id = 'credit:${P3_CREDITED}'`,
    ),
  },
  {
    damage: 'an outbox row with no credit into clearing behind it',
    check: AuditCheck.OutboxMatchesCredit,
    mentions: P3_UNCREDITED,
    corrupt: exec(
      `INSERT INTO xcredit_outbox (claim_id, packet_id, user_id, home_cell, lane, clearing_account_id, amount_fen)
       VALUES ('${P3_UNCREDITED}', '${P3}', 'b', 's', 0, 'clearing:s:0', 70)`,
    ),
  },
  {
    damage: 'a refund that disagrees with refund_fen',
    check: AuditCheck.RefundMatchesPacket,
    mentions: P1,
    corrupt: exec(`UPDATE packets SET refund_fen = refund_fen - 1 WHERE id = '${P1}'`),
  },
  {
    damage: 'a refund out of a packet still open',
    check: AuditCheck.RefundMatchesPacket,
    mentions: P3,
    corrupt: post(`refund:${P3}`, 'refund', `escrow:${P3}`, `wallet:${SENDER}`, 10),
  },
  {
    damage: 'a finished packet with money left in escrow',
    check: AuditCheck.EscrowEmptyWhenFinished,
    mentions: P1,
    corrupt: exec(
      `UPDATE accounts SET balance_fen = 7 WHERE id = 'escrow:${P1}'`,
      `UPDATE accounts SET balance_fen = balance_fen - 7 WHERE id = 'wallet:${SENDER}'`,
    ),
  },
  {
    damage: 'an escrow holding less than its packet still owes',
    check: AuditCheck.EscrowMatchesPacket,
    mentions: P3,
    corrupt: exec(
      `UPDATE accounts SET balance_fen = balance_fen - 5 WHERE id = 'escrow:${P3}'`,
      `UPDATE accounts SET balance_fen = balance_fen + 5 WHERE id = 'wallet:a'`,
    ),
  },
];

/** A set-aside row (credit_failures) for `claimId` of P3, as the pump writes one after a failed credit. */
const setAside = (claimId: string) =>
  exec(`INSERT INTO credit_failures (claim_id, packet_id, attempts, last_error, retry_at)
        VALUES ('${claimId}', '${P3}', 1, 'credit refused', now())`);

/** Payment decisions and set-aside rows that disagree with the packets, transfers and claims. */
export const RECORD_CORRUPTIONS: Corruption[] = [
  {
    damage: 'a paid decision for a packet that does not exist',
    check: AuditCheck.PaidDecisionHasPacket,
    mentions: 'packet p9 says paid (fp-p9), but there is no such packet',
    corrupt: exec(
      `INSERT INTO payment_decisions (packet_id, fingerprint, outcome, decided_at) VALUES ('p9', 'fp-p9', 'paid', now())`,
    ),
  },
  {
    damage: 'a paid decision for a packet with no pay transfer',
    check: AuditCheck.PaidDecisionHasPacket,
    mentions: `packet ${P3} says paid (fixture-${P3}), but there is no pay transfer`,
    corrupt: exec(`DELETE FROM transfers WHERE id = 'pay:${P3}'`),
  },
  {
    damage: 'a packet with no payment decision',
    check: AuditCheck.PacketHasPaidDecision,
    mentions: `packet ${P3} (from ${SENDER}) has no payment decision`,
    corrupt: exec(`DELETE FROM payment_decisions WHERE packet_id = '${P3}'`),
  },
  {
    damage: 'a packet whose payment decision says refused',
    check: AuditCheck.PacketHasPaidDecision,
    mentions: `packet ${P2} (from ${SENDER}) has a payment decision of refused`,
    corrupt: exec(
      `UPDATE payment_decisions SET outcome = 'refused', reason = 'insufficient_funds' WHERE packet_id = '${P2}'`,
    ),
  },
  {
    damage: 'a set-aside row for a credited claim',
    check: AuditCheck.SetAsideClaimUncredited,
    mentions: `claim ${P3_CREDITED} (packet ${P3}): the claim was credited`,
    corrupt: setAside(P3_CREDITED),
  },
  {
    damage: 'a set-aside row for a claim that does not exist',
    check: AuditCheck.SetAsideClaimUncredited,
    mentions: `claim ghost (packet ${P3}): no such claim`,
    corrupt: setAside('ghost'),
  },
];

/** Claims that should never have been allowed, and money that should have moved by now. */
export const CLAIM_AND_LIVENESS_CORRUPTIONS: Corruption[] = [
  {
    damage: 'a claim opened after its packet expired',
    check: AuditCheck.ClaimBeforeExpiry,
    mentions: `claim ${P3_UNCREDITED} by b`,
    corrupt: exec(
      `UPDATE packets SET expires_at = (SELECT created_at FROM claims WHERE id = '${P3_UNCREDITED}') - interval '5 seconds'
        WHERE id = '${P3}'`,
    ),
  },
  {
    damage: 'a claimant outside the audience',
    check: AuditCheck.ClaimantEligible,
    mentions: `claim ${P3_CREDITED} by a, not in its audience`,
    corrupt: exec(`UPDATE packets SET audience = ARRAY['b', 'c'] WHERE id = '${P3}'`),
  },
  {
    damage: "a claimant other than a personal packet's recipient",
    check: AuditCheck.ClaimantEligible,
    mentions: 'claim p2-2 by c, not its recipient b',
    corrupt: exec(`UPDATE packets SET type = 'personal', recipient_id = 'b' WHERE id = '${P2}'`),
  },
  {
    damage: 'the sender taking back their own personal packet',
    check: AuditCheck.ClaimantEligible,
    mentions: `claim p2-1 by ${SENDER}, its sender`,
    corrupt: exec(
      `UPDATE packets SET type = 'personal', recipient_id = 'b' WHERE id = '${P2}'`,
      `UPDATE claims SET user_id = '${SENDER}' WHERE id = 'p2-1'`,
    ),
  },
  {
    damage: 'the sender claiming an audience packet they are not in',
    check: AuditCheck.ClaimantEligible,
    mentions: `claim ${P3_UNCREDITED} by ${SENDER}, its sender`,
    corrupt: exec(
      `UPDATE packets SET audience = ARRAY['a', 'b'] WHERE id = '${P3}'`,
      `UPDATE claims SET user_id = '${SENDER}' WHERE id = '${P3_UNCREDITED}'`,
    ),
  },
  {
    // The sender of a restricted packet never claims it, even one who listed themselves in its audience.
    damage: 'the sender claiming an audience packet they listed themselves in',
    check: AuditCheck.ClaimantEligible,
    mentions: `claim ${P3_UNCREDITED} by ${SENDER}, its sender`,
    corrupt: exec(
      `UPDATE packets SET audience = ARRAY['a', 'b', '${SENDER}'] WHERE id = '${P3}'`,
      `UPDATE claims SET user_id = '${SENDER}' WHERE id = '${P3_UNCREDITED}'`,
    ),
  },
  {
    // 450 fen over 4 shares remained before it, so a random draw could give at most 225.
    damage: 'a random share above twice the remaining average',
    check: AuditCheck.ShareWithinAllocation,
    mentions: `claim ${P3_UNCREDITED} (seq 2) is 300 fen, but with 450 fen over 4 shares left it draws 1..225 fen`,
    corrupt: exec(`UPDATE claims SET amount_fen = 300 WHERE id = '${P3_UNCREDITED}'`),
  },
  {
    damage: 'a share below one fen once its CHECK is dropped',
    check: AuditCheck.ShareWithinAllocation,
    mentions: `claim ${P3_UNCREDITED} (seq 2) is 0 fen`,
    corrupt: exec(
      'ALTER TABLE claims DROP CONSTRAINT claims_amount_fen_check',
      `UPDATE claims SET amount_fen = 0 WHERE id = '${P3_UNCREDITED}'`,
    ),
  },
  {
    // 300 fen in 2 fixed shares is 150 each; the claims are 100 and 200.
    damage: 'unequal shares in a fixed packet',
    check: AuditCheck.ShareWithinAllocation,
    mentions: 'claim p2-1 (seq 1) is 100 fen, but with 300 fen over 2 shares left it gives remaining / count',
    corrupt: exec(`UPDATE packets SET type = 'fixed' WHERE id = '${P2}'`),
  },
  {
    damage: 'an open packet left unsettled long past its expiry',
    check: AuditCheck.ExpiredPacketSettled,
    mentions: `packet ${P3} is still open`,
    corrupt: exec(`UPDATE packets SET expires_at = now() - interval '11 minutes' WHERE id = '${P3}'`),
  },
  {
    damage: 'a claim left uncredited for two hours',
    check: AuditCheck.ClaimCreditedInTime,
    mentions: `claim ${P3_UNCREDITED} (packet ${P3}, user b, 70 fen)`,
    corrupt: exec(`UPDATE claims SET created_at = now() - interval '2 hours' WHERE id = '${P3_UNCREDITED}'`),
  },
];

/** States a healthy system passes through: each must pass the check that sits closest to it. */
export const HONEST_EDGES: { state: string; check: AuditCheck; change: (tx: Tx) => Promise<void> }[] = [
  {
    state: 'a packet a minute past expiry, awaiting settlement',
    check: AuditCheck.ExpiredPacketSettled,
    change: exec(`UPDATE packets SET expires_at = now() - interval '1 minute' WHERE id = '${P3}'`),
  },
  {
    state: 'a claim waiting five minutes for a credit whose signal was lost',
    check: AuditCheck.ClaimCreditedInTime,
    change: exec(`UPDATE claims SET created_at = now() - interval '5 minutes' WHERE id = '${P3_UNCREDITED}'`),
  },
  {
    state: 'a claim stamped 200 ms after expiry by a last-moment open',
    check: AuditCheck.ClaimBeforeExpiry,
    change: exec(
      `UPDATE packets SET expires_at = (SELECT created_at FROM claims WHERE id = '${P3_UNCREDITED}')
                                       - interval '200 milliseconds' WHERE id = '${P3}'`,
    ),
  },
  {
    // 450 fen over 4 shares remained: twice the average is 225, the largest draw allowed.
    state: 'a random share of exactly twice the remaining average',
    check: AuditCheck.ShareWithinAllocation,
    change: exec(`UPDATE claims SET amount_fen = 225 WHERE id = '${P3_UNCREDITED}'`),
  },
  {
    state: 'a set-aside row for a claim still uncredited',
    check: AuditCheck.SetAsideClaimUncredited,
    change: setAside(P3_UNCREDITED),
  },
  {
    state: 'the sender claiming a share of their own open group packet',
    check: AuditCheck.ClaimantEligible,
    change: exec(`UPDATE claims SET user_id = '${SENDER}' WHERE id = '${P3_UNCREDITED}'`),
  },
];
