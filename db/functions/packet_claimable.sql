-- Who may claim a share of a packet: the one definition, used by the open statement, the degraded grab and
-- the audit. The sender may see a restricted packet but never claim it; anyone may claim an open group one.
CREATE OR REPLACE FUNCTION packet_claimable(recipient_id text, audience text[], sender_id text, user_id text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN recipient_id IS NOT NULL THEN user_id = recipient_id AND user_id <> sender_id
    WHEN audience IS NOT NULL THEN user_id = ANY (audience) AND user_id <> sender_id
    ELSE true
  END
$$;
