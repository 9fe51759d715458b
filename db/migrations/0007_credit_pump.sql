-- Credit pumps (docs/credit-pump.md). The claim row is the credit message: a pump picks uncredited claims of
-- its shard (a stable hash of the packet id) oldest first, so the queue is a partial index over claims.
CREATE INDEX claims_credit_queue ON claims (created_at, id) WHERE credited_at IS NULL;

-- A claim whose credit failed is set aside here with its error and retried from retry_at on, so one bad row
-- never blocks its shard. reported_at: when its packet's workflow was told it is stuck. The row is deleted
-- in the transaction that finally credits the claim.
CREATE TABLE credit_failures (
  claim_id        text PRIMARY KEY,
  packet_id       text NOT NULL,
  attempts        int NOT NULL CHECK (attempts > 0),
  first_failed_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  last_error      text NOT NULL,
  retry_at        timestamptz NOT NULL,
  reported_at     timestamptz
);

CREATE INDEX credit_failures_packet ON credit_failures (packet_id);

-- Wakes the pumps when an open commits (NOTIFY is delivered at commit, so a rolled-back open wakes nobody).
-- The channel carries the schema so databases shared by several schemas (tests) do not wake each other;
-- the payload is the packet's shard hash, so a pump ignores other shards' opens. Only a wake-up: pumps
-- also poll, so a lost notification delays a credit by the poll interval at most.
CREATE FUNCTION notify_credit_pump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('credit_claims_' || TG_TABLE_SCHEMA, (hashtext(NEW.packet_id) & 2147483647)::text);
  RETURN NULL;
END;
$$;

CREATE TRIGGER claims_notify_credit_pump AFTER INSERT ON claims
  FOR EACH ROW EXECUTE FUNCTION notify_credit_pump();
