-- Wakes the pumps when an open commits (NOTIFY is delivered at commit, so a rolled-back open wakes nobody).
-- The channel carries the schema so databases shared by several schemas (tests) do not wake each other;
-- the payload is the packet's shard hash, so a pump ignores other shards' opens. Only a wake-up: pumps
-- also poll, so a lost notification delays a credit by the poll interval at most.
CREATE OR REPLACE FUNCTION notify_credit_pump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('credit_claims_' || TG_TABLE_SCHEMA, (hashtext(NEW.packet_id) & 2147483647)::text);
  RETURN NULL;
END;
$$;
