-- The request an Idempotency-Key was first used for. The HTTP idempotency store forgets keys after its TTL;
-- this does not, so a key reused later for a different packet is refused instead of answering the old one.
ALTER TABLE packet_requests ADD COLUMN request_hash text;
