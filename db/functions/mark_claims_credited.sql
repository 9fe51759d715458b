-- Marks claims credited and forgets their set-aside failures, in the credit transaction after their
-- transfers (packets/store/credits.ts creditLockedClaims); returns the failures it removed. One UPDATE per
-- day among the claims, each naming its day, so each reads one partition of claims (docs/day-tables.md):
-- a join on the array of ids would be planned over every partition, and Postgres prunes an array of days
-- only when it is a constant. A batch almost always holds one or two days.
CREATE OR REPLACE FUNCTION mark_claims_credited(p_claim_ids text[])
RETURNS TABLE (packet_id text, reported_at timestamptz) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  d date;
  ids text[];
BEGIN
  FOR d, ids IN SELECT day_of_id(i), array_agg(i) FROM unnest(p_claim_ids) AS i GROUP BY 1 LOOP
    UPDATE claims SET credited_at = clock_timestamp() WHERE claims.day = d AND claims.id = ANY (ids);
  END LOOP;
  RETURN QUERY DELETE FROM credit_failures f WHERE f.claim_id = ANY (p_claim_ids)
    RETURNING f.packet_id, f.reported_at;
END
$$;
