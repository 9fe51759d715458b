-- Whose payment a decision records (packets/store/paymentDecision.ts asks this too): the send's own
-- fingerprint; for workflows started before fingerprints, `fields:<sender>:<total>:<count>`; for packets paid
-- before migration 0006, `legacy`, matched against the packet row.
CREATE OR REPLACE FUNCTION payment_decision_owned(
  p_packet_id text, p_stored text, p_fingerprint text, p_sender_id text, p_total_fen bigint, p_share_count int
) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE
    WHEN p_stored = p_fingerprint THEN true
    WHEN p_stored LIKE 'fields:%' THEN p_stored = fields_fingerprint(p_sender_id, p_total_fen, p_share_count)
    WHEN p_stored = 'legacy' THEN EXISTS (
      SELECT 1 FROM packets
      WHERE day = day_of_id(p_packet_id) AND id = p_packet_id AND sender_id = p_sender_id AND total_fen = p_total_fen AND share_count = p_share_count)
    ELSE false
  END
$$;
