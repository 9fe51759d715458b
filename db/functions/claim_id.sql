-- Claim ids (docs/rules.md): `<packetId>-<seq>`, written by open_share alone. packets/store/openShare.ts
-- (claimIdOf) spells the same id for tests and the bench's reference; test/integration/ruleOwnersSql.test.ts
-- fails when the two drift.
-- The cast is explicit: text || int is only STABLE (it calls int's output function through anytextcat), and a
-- function declared IMMUTABLE whose body is less so is not inlined; open_share would then plan this body on
-- every open (test/integration/sqlFunctions.test.ts holds every one-expression function inlinable).
CREATE OR REPLACE FUNCTION claim_id(packet_id text, seq int)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT packet_id || '-' || seq::text
$$;
