/**
 * The audit's record checks: the rows that decide or track money outside the ledger agree with it. A payment
 * decision (payment_decisions, migration 0006) is the fence every payment attempt obeys, so a decision that
 * says "paid" for a packet that was never paid would answer a retry with a packet nobody paid for, and a
 * packet without a "paid" decision could be paid again by a stale attempt. A set-aside row (credit_failures,
 * migration 0007) for a claim already credited is never deleted, and its packet shows CreditStuck for good.
 */
import type { AuditQuery } from './auditChecks';
import { outsideColdDays, renderScoped, type AuditScope, type ScopeSql } from './auditScope';

export const RecordCheck = {
  PaidDecisionHasPacket: 'paid_decision_has_packet',
  PacketHasPaidDecision: 'packet_has_paid_decision',
  SetAsideClaimUncredited: 'set_aside_claim_uncredited',
} as const;

export type RecordCheck = (typeof RecordCheck)[keyof typeof RecordCheck];

// pay_packet (migration 0009) writes the decision, the packet row and the pay transfer in one statement, so
// in a committed snapshot a "paid" decision always has both. Whether the transfer's amount and accounts
// match the packet is packet_paid_once's to say. A cold day's decisions stay while its packets are archived.
const paidDecisionHasPacket = (s: ScopeSql) => `
  SELECT format('the payment decision of packet %s says paid (%s), but %s', d.packet_id, d.fingerprint,
                CASE WHEN p.id IS NULL THEN 'there is no such packet' ELSE 'there is no pay transfer' END)
         AS detail
    FROM payment_decisions d
    LEFT JOIN live_packets p ON p.id = d.packet_id
    LEFT JOIN live_transfers t ON t.id = transfer_id('pay', d.packet_id) AND t.kind = 'pay'
   WHERE d.outcome = 'paid' AND (p.id IS NULL OR t.id IS NULL) AND ${s.packets('d.packet_id')}
     AND ${outsideColdDays('day_of_id(d.packet_id)')}`;

// Packets paid before the fence got a 'legacy' paid decision from migration 0006; every later one was paid
// under its decision.
const packetHasPaidDecision = (s: ScopeSql) => `
  SELECT format('packet %s (from %s) has %s', p.id, p.sender_id,
                CASE WHEN d.packet_id IS NULL THEN 'no payment decision'
                     ELSE format('a payment decision of %s', coalesce(d.outcome, 'nothing yet')) END) AS detail
    FROM live_packets p LEFT JOIN payment_decisions d ON d.packet_id = p.id
   WHERE d.outcome IS DISTINCT FROM 'paid' AND ${s.packets('p.id')}`;

// The credit deletes a claim's set-aside row in the transaction that credits it, and recordCreditFailure
// writes one only for an uncredited claim, so a row here is for an uncredited claim of its own packet.
const SET_ASIDE_CLAIM_UNCREDITED = `
  SELECT format('set-aside row for claim %s (packet %s): %s', f.claim_id, f.packet_id,
                CASE WHEN c.id IS NULL THEN 'no such claim'
                     WHEN c.packet_id <> f.packet_id THEN format('the claim is of packet %s', c.packet_id)
                     ELSE format('the claim was credited at %s', c.credited_at) END) AS detail
    FROM credit_failures f LEFT JOIN live_claims c ON c.id = f.claim_id
   WHERE c.id IS NULL OR c.packet_id <> f.packet_id OR c.credited_at IS NOT NULL`;

/**
 * The record checks, the decisions restricted to the packets of `scope` when one is given. Set-aside rows are
 * few (only failing credits) and change without a transfer, so they are always all checked.
 */
export function recordQueries(scope?: AuditScope): AuditQuery<RecordCheck>[] {
  return [
    { check: RecordCheck.PaidDecisionHasPacket, ...renderScoped(scope, [], paidDecisionHasPacket) },
    { check: RecordCheck.PacketHasPaidDecision, ...renderScoped(scope, [], packetHasPaidDecision) },
    { check: RecordCheck.SetAsideClaimUncredited, sql: SET_ASIDE_CLAIM_UNCREDITED, params: [] },
  ];
}
