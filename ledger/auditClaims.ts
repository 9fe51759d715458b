/**
 * The audit's claim rules: every claim must have been allowed when it was opened. The ledger checks prove
 * that money was moved consistently; these prove it went to someone entitled to it, in time, and in the
 * amount the allocation rule (share_from_draw) could have drawn, its bounds stated here independently. Each is one set-based query.
 */
import type { AuditQuery } from './auditChecks';
import { renderScoped, type AuditScope, type ScopeSql } from './auditScope';

export const ClaimCheck = {
  ClaimBeforeExpiry: 'claim_before_expiry',
  ClaimantEligible: 'claimant_eligible',
  ShareWithinAllocation: 'share_within_allocation',
} as const;

export type ClaimCheck = (typeof ClaimCheck)[keyof typeof ClaimCheck];

/**
 * How long after `expires_at` a claim's `created_at` may fall. The open transaction judges expiry under the
 * row lock and then inserts the claim, whose `created_at` is `clock_timestamp()` a round trip later, so an
 * honest last-moment open can be stamped a few milliseconds past expiry. A second covers that with room to
 * spare while still catching an API host whose clock runs slow (issue 13, finding 5).
 */
export const LATE_CLAIM_TOLERANCE_MS = 1_000;

export interface ClaimThresholds {
  lateClaimToleranceMs: number;
}

// The open statement must refuse these claims on its own. Eligibility is the one SQL definition the open and
// the degraded grab use, packet_claimable (migration 0006): a personal packet is its recipient's, an audience
// packet its members', the sender of either never (even one who listed themselves); an open group packet is
// anyone's, the sender's included.
const claimantEligible = (s: ScopeSql) => `
  SELECT format('packet %s (%s from %s): claim %s by %s, %s', p.id, p.type, p.sender_id, c.id, c.user_id,
                CASE WHEN c.user_id = p.sender_id THEN 'its sender'
                     WHEN p.type = 'personal' THEN format('not its recipient %s', p.recipient_id)
                     ELSE 'not in its audience' END) AS detail
    FROM live_claims c JOIN live_packets p ON p.id = c.packet_id
   WHERE ${s.packets('p.id')} AND NOT packet_claimable(p.recipient_id, p.audience, p.sender_id, c.user_id)`;

// Replays the allocation from the claims in seq order: before the k-th claim, total - sum(earlier claims)
// fen remained over share_count - (k - 1) shares. A random share lies in [1, min(2 * remaining / count,
// remaining - (count - 1))], which for the last share is exactly what remains; a fixed share
// is remaining / count (the amount divides evenly, so every share is equal and the last takes the rest);
// a personal packet's one share is everything. The window runs over (packet_id, seq), the unique index.
const shareWithinAllocation = (s: ScopeSql) => `
  WITH replay AS (
    SELECT c.id, c.packet_id, c.seq, c.amount_fen, p.type,
           -- sum(bigint) is numeric; back to bigint so the bound below divides as integers, like Math.floor.
           (p.total_fen - coalesce(sum(c.amount_fen) OVER earlier, 0))::bigint AS before_fen,
           p.share_count - (row_number() OVER earlier - 1) AS before_count
      FROM live_claims c JOIN live_packets p ON p.id = c.packet_id
     WHERE ${s.packets('c.packet_id')}
    WINDOW earlier AS (PARTITION BY c.packet_id ORDER BY c.seq ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)),
  bounded AS (
    SELECT *, CASE WHEN before_count < 1 THEN NULL
                   ELSE greatest(1, least((2 * before_fen) / before_count, before_fen - (before_count - 1)))
              END AS random_max_fen
      FROM replay)
  SELECT format('packet %s (%s): claim %s (seq %s) is %s fen, but with %s fen over %s shares left it %s',
                packet_id, type, id, seq, amount_fen, before_fen, before_count,
                CASE WHEN before_count < 1 THEN 'has no share to give'
                     WHEN type = 'random' THEN format('draws 1..%s fen', random_max_fen)
                     WHEN type = 'fixed' THEN 'gives remaining / count, evenly'
                     ELSE 'gives everything that remains' END) AS detail
    FROM bounded
   WHERE amount_fen < 1
      OR CASE WHEN before_count < 1 THEN true
              WHEN type = 'random' THEN amount_fen > random_max_fen
              WHEN type = 'fixed' THEN amount_fen * before_count <> before_fen
              ELSE amount_fen <> before_fen END`;

/** The claim checks, restricted to the packets of `scope` when one is given. */
export function claimQueries(thresholds: ClaimThresholds, scope?: AuditScope): AuditQuery<ClaimCheck>[] {
  return [
    {
      check: ClaimCheck.ClaimBeforeExpiry,
      // Expiry is judged by one clock, Postgres' (issue 13, finding 5); a claim stamped after it means an
      // open that should have been refused committed anyway.
      ...renderScoped(
        scope,
        [thresholds.lateClaimToleranceMs],
        (s) => `
        SELECT format('packet %s expired at %s, but claim %s by %s was created %s later',
                      p.id, p.expires_at, c.id, c.user_id, c.created_at - p.expires_at) AS detail
          FROM live_claims c JOIN live_packets p ON p.id = c.packet_id
         WHERE c.created_at > p.expires_at + $2::bigint * interval '1 millisecond' AND ${s.packets('p.id')}`,
      ),
    },
    { check: ClaimCheck.ClaimantEligible, ...renderScoped(scope, [], claimantEligible) },
    { check: ClaimCheck.ShareWithinAllocation, ...renderScoped(scope, [], shareWithinAllocation) },
  ];
}
