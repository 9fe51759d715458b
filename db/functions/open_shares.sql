-- Opens of one packet by several users, in order, under one lock of the packet's row (packets/store/
-- openShare.ts sends a batch of a hot packet's openers as one call). Each opener is answered exactly as an
-- open of its own would be (open_share is this function with one opener): a repeat open returns the earlier
-- claim (made before this call, or by an earlier opener of this call: a double tap); an opener is refused
-- when the packet is unknown, not claimable by them (packet_claimable), expired by this database's clock,
-- no longer open, or exhausted; otherwise the next share is drawn (share_from_draw) from what the openers
-- before it left.
--
-- Why one call for the batch and not one call per opener: every statement on a day-partitioned table costs
-- its planning (custom plans, pruned to one day) or its run-time pruning and the locks of every day's
-- partition (generic plans), and both grow with the days kept hot (90 by default). Per opener that was four
-- such statements; here the whole batch runs four: the row lock, one read of the openers' earlier claims,
-- one INSERT of the new claims and one UPDATE of what remains. The shares are drawn in between, in memory.
--
-- One row per opener: position (1-based, the opener's index in p_user_ids), outcome 'opened', 'repeat',
-- 'unknown' or 'refused', the claim columns, and for a refusal the facts (claimable, expired, status,
-- remaining_count) from which packets/access.ts refusalOf picks the one answer every path gives.
-- remaining_count is what remained after the opener's turn.
CREATE OR REPLACE FUNCTION open_shares(p_packet_id text, p_user_ids text[], p_draws float8[])
RETURNS TABLE (
  "position"      int,
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
#variable_conflict use_column
DECLARE
  opener_count int := coalesce(cardinality(p_user_ids), 0);
  p packets%ROWTYPE;
  is_expired boolean;
  is_claimable boolean;
  left_fen bigint;
  left_count int;
  share bigint;
  i int;
  j int;
  earlier record;
  made record;
  -- Per opener (index = position): the answer, filled in the order the openers are served.
  o_outcome text[] := array_fill(NULL::text, ARRAY[opener_count]);
  o_claim text[] := array_fill(NULL::text, ARRAY[opener_count]);
  o_seq int[] := array_fill(NULL::int, ARRAY[opener_count]);
  o_amount bigint[] := array_fill(NULL::bigint, ARRAY[opener_count]);
  o_at timestamptz[] := array_fill(NULL::timestamptz, ARRAY[opener_count]);
  o_credited boolean[] := array_fill(NULL::boolean, ARRAY[opener_count]);
  o_claimable boolean[] := array_fill(true, ARRAY[opener_count]);
  o_remaining int[] := array_fill(NULL::int, ARRAY[opener_count]);
  -- A double tap inside the batch: the position whose new claim this opener repeats.
  o_same int[] := array_fill(NULL::int, ARRAY[opener_count]);
  -- The claims this call makes, in seq order.
  new_users text[] := '{}';
  new_seqs int[] := '{}';
  new_amounts bigint[] := '{}';
  new_positions int[] := '{}';
BEGIN
  IF opener_count = 0 THEN
    RETURN;
  END IF;
  -- Every statement names the packet's day, so each reads one partition (docs/day-tables.md).
  SELECT * INTO p FROM packets WHERE packets.day = day_of_id(p_packet_id) AND packets.id = p_packet_id FOR UPDATE;
  IF NOT FOUND THEN
    RETURN QUERY SELECT g, 'unknown'::text, NULL::text, NULL::int, NULL::bigint, NULL::timestamptz,
      NULL::boolean, false, false, NULL::text, NULL::int FROM generate_series(1, opener_count) AS g;
    RETURN;
  END IF;
  -- clock_timestamp(), not now(): the statement may have waited for the lock past the expiry.
  is_expired := p.expires_at <= clock_timestamp();
  left_fen := p.remaining_fen;
  left_count := p.remaining_count;

  -- A VOLATILE function takes a fresh snapshot per statement, so this read sees claims by these users that
  -- committed while this call waited for the lock: they are answered, never inserted twice.
  FOR earlier IN
    SELECT c.id, c.user_id, c.seq, c.amount_fen, c.created_at, c.credited_at IS NOT NULL AS is_credited
      FROM claims c
     WHERE c.day = p.day AND c.packet_id = p_packet_id AND c.user_id = ANY (p_user_ids)
  LOOP
    FOR i IN 1 .. opener_count LOOP
      IF p_user_ids[i] = earlier.user_id THEN
        o_outcome[i] := 'repeat';
        o_claim[i] := earlier.id;
        o_seq[i] := earlier.seq;
        o_amount[i] := earlier.amount_fen;
        o_at[i] := earlier.created_at;
        o_credited[i] := earlier.is_credited;
      END IF;
    END LOOP;
  END LOOP;

  FOR i IN 1 .. opener_count LOOP
    o_remaining[i] := left_count;
    CONTINUE WHEN o_outcome[i] = 'repeat';
    j := array_position(new_users, p_user_ids[i]);
    IF j IS NOT NULL THEN
      o_outcome[i] := 'repeat';
      o_same[i] := new_positions[j];
      CONTINUE;
    END IF;
    is_claimable := packet_claimable(p.recipient_id, p.audience, p.sender_id, p_user_ids[i]);
    IF NOT is_claimable OR is_expired OR p.status <> 'open' OR left_count = 0 THEN
      o_outcome[i] := 'refused';
      o_claimable[i] := is_claimable;
      CONTINUE;
    END IF;
    share := share_from_draw(p.type, left_fen, left_count, p_draws[i]);
    o_outcome[i] := 'opened';
    o_seq[i] := p.share_count - left_count + 1;
    o_amount[i] := share;
    o_credited[i] := false;
    new_users := new_users || p_user_ids[i];
    new_seqs := new_seqs || o_seq[i];
    new_amounts := new_amounts || share;
    new_positions := new_positions || i;
    left_fen := left_fen - share;
    left_count := left_count - 1;
    o_remaining[i] := left_count;
  END LOOP;

  IF cardinality(new_users) > 0 THEN
    -- The new seqs are consecutive from new_seqs[1], so a returned seq gives its opener's position.
    FOR made IN
      INSERT INTO claims (day, id, packet_id, user_id, seq, amount_fen)
      SELECT p.day, claim_id(p_packet_id, n.seq), p_packet_id, n.user_id, n.seq, n.amount_fen
        FROM unnest(new_users, new_seqs, new_amounts) AS n(user_id, seq, amount_fen)
      RETURNING claims.seq AS made_seq, claims.id AS made_id, claims.created_at AS made_at
    LOOP
      i := new_positions[made.made_seq - new_seqs[1] + 1];
      o_claim[i] := made.made_id;
      o_at[i] := made.made_at;
    END LOOP;
    UPDATE packets SET remaining_fen = left_fen, remaining_count = left_count
     WHERE packets.day = p.day AND packets.id = p_packet_id;
  END IF;

  FOR i IN 1 .. opener_count LOOP
    j := o_same[i];
    CONTINUE WHEN j IS NULL;
    o_claim[i] := o_claim[j];
    o_seq[i] := o_seq[j];
    o_amount[i] := o_amount[j];
    o_at[i] := o_at[j];
    o_credited[i] := false;
  END LOOP;

  RETURN QUERY SELECT g, o_outcome[g], o_claim[g], o_seq[g], o_amount[g], o_at[g],
    o_credited[g],
    o_claimable[g],
    o_outcome[g] = 'refused' AND is_expired,
    p.status, o_remaining[g]
    FROM generate_series(1, opener_count) AS g;
END
$$;
