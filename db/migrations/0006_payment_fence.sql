-- Money safety (issue 13).
--
-- The payment decision of a packet, taken once under this row's lock. Every payment attempt locks the row
-- first; an attempt that finds `refused` cannot pay, and one that finds `paid` answers from the packet row.
-- So a stale attempt that resumes after the workflow was told "insufficient funds" can no longer pay a packet
-- that nothing would ever settle. Unpaid orders still never reach the packets table (seed 002).
CREATE TABLE payment_decisions (
  packet_id   text PRIMARY KEY,
  -- The send that owns this id (a hash of the validated request and a nonce): an id handed out twice is
  -- recognised as another packet instead of answering "paid" without a debit.
  fingerprint text NOT NULL,
  outcome     text CHECK (outcome IN ('paid', 'refused')),
  reason      text,
  decided_at  timestamptz,
  CONSTRAINT payment_decisions_decided CHECK ((outcome IS NULL) = (decided_at IS NULL))
);

-- Packets paid before this migration have no decision row; their attempts all committed long ago.
INSERT INTO payment_decisions (packet_id, fingerprint, outcome, decided_at)
SELECT id, 'legacy', 'paid', created_at FROM packets;

-- Who may claim a share of a packet: the one definition, used by the open statement, the degraded grab and
-- the audit. The sender may see a restricted packet but never claim it; anyone may claim an open group one.
CREATE FUNCTION packet_claimable(recipient_id text, audience text[], sender_id text, user_id text)
RETURNS boolean LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN recipient_id IS NOT NULL THEN user_id = recipient_id AND user_id <> sender_id
    WHEN audience IS NOT NULL THEN user_id = ANY (audience) AND user_id <> sender_id
    ELSE true
  END
$$;
