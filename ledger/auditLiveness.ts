/**
 * The audit's liveness checks: money that should have moved by now but has not. The ledger checks only see
 * books that disagree; a packet that nothing ever settles, or a claim that nothing ever credits, keeps
 * books that agree while money sits in escrow for good (issue 13, finding 1). Each check allows the normal
 * delay of the path that moves the money, so the audit of a healthy live system stays clean.
 *
 * Both read Postgres' clock (`now()`, the audit snapshot's start), the clock that settles packets.
 */
import type { AuditQuery } from './auditChecks';

export const LivenessCheck = {
  ExpiredPacketSettled: 'expired_packet_settled',
  ClaimCreditedInTime: 'claim_credited_in_time',
} as const;

export type LivenessCheck = (typeof LivenessCheck)[keyof typeof LivenessCheck];

/**
 * How long a packet may stay unsettled after `expires_at`. The workflow's expiry timer fires on Temporal's
 * clock and the settle activity then retries until Postgres answers, so a packet is normally refunded within
 * seconds of expiry; ten minutes rides out a worker restart or a short outage without paging anyone. A
 * packet settlement closed with credits still owed is not late here (ClaimCreditedInTime watches those
 * claims); one that owes nothing and is still not finished lost its "finished" mark, and is.
 */
export const OPEN_PAST_EXPIRY_GRACE_MS = 10 * 60_000;

/**
 * How long a claim may stay uncredited. A credit pump credits a claim within about a second (its poll
 * interval bounds a lost wake-up). Ninety minutes was past the 80-minute sweep of the per-packet credit waves,
 * retired on 2026-12-07 (docs/saga.md, "Changing the workflow"); only a claim nothing will credit is reported,
 * and the threshold can now drop to minutes.
 */
export const UNCREDITED_CLAIM_MAX_AGE_MS = 90 * 60_000;

export interface LivenessThresholds {
  openPastExpiryGraceMs: number;
  uncreditedMaxAgeMs: number;
}

export function livenessQueries(thresholds: LivenessThresholds): AuditQuery<LivenessCheck>[] {
  return [
    {
      check: LivenessCheck.ExpiredPacketSettled,
      sql: `
        SELECT format('packet %s is still %s %s after it expired at %s, with %s fen in escrow', p.id, p.status,
                      date_trunc('second', now() - p.expires_at), p.expires_at,
                      coalesce(a.balance_fen::text, '(no account)')) AS detail
          FROM live_packets p LEFT JOIN accounts a ON a.id = escrow_account(p.id)
         WHERE p.expires_at < now() - $2::bigint * interval '1 millisecond'
           AND (p.status = 'open'
                OR (p.status = 'closed'
                    AND NOT EXISTS (SELECT 1 FROM live_claims c WHERE c.packet_id = p.id AND c.credited_at IS NULL)))`,
      params: [thresholds.openPastExpiryGraceMs],
    },
    {
      check: LivenessCheck.ClaimCreditedInTime,
      // The partial index claims_uncredited holds exactly these rows, so this stays cheap however many
      // credited claims there are.
      sql: `
        SELECT format('claim %s (packet %s, user %s, %s fen) has waited %s for its credit since %s',
                      id, packet_id, user_id, amount_fen, date_trunc('second', now() - created_at),
                      created_at) AS detail
          FROM live_claims
         WHERE credited_at IS NULL AND created_at < now() - $2::bigint * interval '1 millisecond'`,
      params: [thresholds.uncreditedMaxAgeMs],
    },
  ];
}
