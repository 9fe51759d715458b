-- One open: open_shares (db/functions/open_shares.sql, which owns the rule) with one opener. Kept for the
-- single open and for callers that open one share at a time.
--
-- outcome: 'opened', 'repeat' (the claim columns are the earlier claim), 'unknown' (no such packet), or
-- 'refused' with the facts (claimable, expired, status, remaining_count) from which packets/access.ts
-- refusalOf picks the one answer every path gives.
CREATE OR REPLACE FUNCTION open_share(p_packet_id text, p_user_id text, p_draw float8)
RETURNS TABLE (
  outcome         text,
  claim_id        text,
  seq             int,
  amount_fen      bigint,
  opened_at       timestamptz,
  credited        boolean,
  claimable       boolean,
  expired         boolean,
  status          text,
  remaining_count int
) LANGUAGE sql VOLATILE AS $$
  SELECT o.outcome, o.claim_id, o.seq, o.amount_fen, o.opened_at, o.credited, o.claimable, o.expired,
         o.status, o.remaining_count
    FROM open_shares(p_packet_id, ARRAY[p_user_id], ARRAY[p_draw]) AS o
$$;
