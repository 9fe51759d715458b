-- Claim ids (docs/rules.md): `<packetId>-<seq>`, written by open_share alone. packets/store/openShare.ts
-- (claimIdOf) spells the same id for tests and the bench's reference; test/integration/ruleOwnersSql.test.ts
-- fails when the two drift.
CREATE OR REPLACE FUNCTION claim_id(packet_id text, seq int)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT packet_id || '-' || seq
$$;
