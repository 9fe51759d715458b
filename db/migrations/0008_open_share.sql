-- The open (拆) in one round trip (issue 15).
--
-- Before this, an open held the packet's row lock across three round trips (lock and read, write, commit),
-- each of which waited for an API event loop busy with thousands of grabs. open_share does the whole open
-- inside Postgres, called as one autocommitted SELECT: the lock is taken and released within the statement,
-- never while Node waits.

-- The allocation rule of domain/allocation.ts (shareFromDraw), given the same uniform draw in [0, 1) that the
-- API takes from node:crypto. test/integration/openStatement.test.ts checks that both give the same share.
-- float8 arithmetic here and in JavaScript is IEEE 754 double, so floor(draw * max) is the same number.
CREATE FUNCTION share_from_draw(packet_type text, remaining_fen bigint, remaining_count int, draw float8)
RETURNS bigint LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  max_share bigint;
BEGIN
  IF remaining_count IS NULL OR remaining_fen IS NULL OR remaining_count < 1
     OR remaining_fen < remaining_count THEN
    RAISE EXCEPTION 'cannot draw a share from % fen over % shares', remaining_fen, remaining_count
      USING ERRCODE = 'check_violation';
  END IF;
  IF draw IS NULL OR NOT (draw >= 0 AND draw < 1) THEN
    RAISE EXCEPTION 'a draw is a number in [0, 1), not %', draw USING ERRCODE = 'check_violation';
  END IF;
  -- The last share takes the rest.
  IF remaining_count = 1 THEN
    RETURN remaining_fen;
  END IF;
  IF packet_type = 'fixed' THEN
    IF remaining_fen % remaining_count <> 0 THEN
      RAISE EXCEPTION 'a fixed packet no longer divides evenly' USING ERRCODE = 'check_violation';
    END IF;
    RETURN remaining_fen / remaining_count;
  END IF;
  IF packet_type = 'personal' THEN
    RETURN remaining_fen;
  END IF;
  IF packet_type <> 'random' THEN
    RAISE EXCEPTION 'unknown packet type %', packet_type USING ERRCODE = 'check_violation';
  END IF;
  -- Double average, keeping at least 1 fen for every later share.
  max_share := greatest(1, least((2 * remaining_fen) / remaining_count, remaining_fen - (remaining_count - 1)));
  RETURN least(max_share, 1 + floor(draw * max_share)::bigint);
END
$$;

-- One open: under the packet's row lock, return this user's claim for a repeat open; refuse when the packet
-- is unknown, not claimable by this user (packet_claimable), expired by this database's clock, no longer
-- open, or exhausted; otherwise draw the share, insert the claim and decrement what remains.
--
-- outcome: 'opened', 'repeat' (the claim columns are the earlier claim), 'unknown' (no such packet), or
-- 'refused' with the facts (claimable, expired, status, remaining_count) from which packets/access.ts
-- refusalOf picks the one answer every path gives.
CREATE FUNCTION open_share(p_packet_id text, p_user_id text, p_draw float8)
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
  SELECT * INTO p FROM packets WHERE packets.id = p_packet_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT 'unknown'::text, NULL::text, NULL::int, NULL::bigint, NULL::timestamptz, NULL::boolean,
      false, false, NULL::text, NULL::int;
    RETURN;
  END IF;
  -- A VOLATILE function takes a fresh snapshot per statement, so this read sees a claim by the same user
  -- that committed while this call waited for the lock (a double tap): it is answered, never inserted twice.
  SELECT * INTO c FROM claims WHERE claims.packet_id = p_packet_id AND claims.user_id = p_user_id;
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
  INSERT INTO claims (id, packet_id, user_id, seq, amount_fen)
  VALUES (p_packet_id || '-' || next_seq, p_packet_id, p_user_id, next_seq, share)
  RETURNING * INTO c;
  UPDATE packets SET remaining_fen = packets.remaining_fen - share,
    remaining_count = packets.remaining_count - 1
  WHERE packets.id = p_packet_id;
  RETURN QUERY SELECT 'opened'::text, c.id, c.seq, c.amount_fen, c.created_at, false,
    true, false, p.status, p.remaining_count - 1;
END
$$;
