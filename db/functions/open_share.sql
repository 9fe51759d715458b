-- One open: under the packet's row lock, return this user's claim for a repeat open; refuse when the packet
-- is unknown, not claimable by this user (packet_claimable), expired by this database's clock, no longer
-- open, or exhausted; otherwise draw the share, insert the claim and decrement what remains.
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
) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  p packets%ROWTYPE;
  c claims%ROWTYPE;
  share bigint;
  next_seq int;
  is_claimable boolean;
  is_expired boolean;
BEGIN
  -- Every statement names the packet's day, so each reads one partition (docs/day-tables.md).
  SELECT * INTO p FROM packets WHERE packets.day = day_of_id(p_packet_id) AND packets.id = p_packet_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unknown'::text, NULL::text, NULL::int, NULL::bigint, NULL::timestamptz, NULL::boolean,
      false, false, NULL::text, NULL::int;
    RETURN;
  END IF;
  -- A VOLATILE function takes a fresh snapshot per statement, so this read sees a claim by the same user
  -- that committed while this call waited for the lock (a double tap): it is answered, never inserted twice.
  SELECT * INTO c FROM claims
   WHERE claims.day = p.day AND claims.packet_id = p_packet_id AND claims.user_id = p_user_id;
  IF FOUND THEN
    RETURN QUERY SELECT 'repeat'::text, c.id, c.seq, c.amount_fen, c.created_at, c.credited_at IS NOT NULL,
      true, false, p.status, p.remaining_count;
    RETURN;
  END IF;
  is_claimable := packet_claimable(p.recipient_id, p.audience, p.sender_id, p_user_id);
  -- clock_timestamp(), not now(): the statement may have waited for the lock past the expiry.
  is_expired := p.expires_at <= clock_timestamp();
  IF NOT is_claimable OR is_expired OR p.status <> 'open' OR p.remaining_count = 0 THEN
    RETURN QUERY SELECT 'refused'::text, NULL::text, NULL::int, NULL::bigint, NULL::timestamptz, NULL::boolean,
      is_claimable, is_expired, p.status, p.remaining_count;
    RETURN;
  END IF;
  share := share_from_draw(p.type, p.remaining_fen, p.remaining_count, p_draw);
  next_seq := p.share_count - p.remaining_count + 1;
  INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen)
  VALUES (p.day, claim_id(p_packet_id, next_seq), p_packet_id, p_user_id, next_seq, share)
  RETURNING * INTO c;
  UPDATE packets SET remaining_fen = packets.remaining_fen - share,
    remaining_count = packets.remaining_count - 1
  WHERE packets.day = p.day AND packets.id = p_packet_id;
  RETURN QUERY SELECT 'opened'::text, c.id, c.seq, c.amount_fen, c.created_at, false,
    true, false, p.status, p.remaining_count - 1;
END
$$;
