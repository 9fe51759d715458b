-- The allocation rule, its one owner (docs/rules.md), given the uniform draw in [0, 1) that the
-- API takes from node:crypto (domain/allocation.ts drawFrom). test/integration/allocation.test.ts checks its
-- properties over whole packets; the audit's share_within_allocation checks every stored share's bounds.
CREATE OR REPLACE FUNCTION share_from_draw(packet_type text, remaining_fen bigint, remaining_count int, draw float8)
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
