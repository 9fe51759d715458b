-- The decision fingerprint of a send without one (workflows started before fingerprints, docs/rules.md):
-- `fields:<sender>:<total>:<count>`. packets/store/paymentDecision.ts (fingerprintOf) writes the same text
-- for such a send; test/integration/ruleOwnersSql.test.ts fails when the two drift.
-- Explicit casts keep the body IMMUTABLE, so the planner inlines it (claim_id.sql says why that matters).
CREATE OR REPLACE FUNCTION fields_fingerprint(sender_id text, total_fen bigint, share_count int)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 'fields:' || sender_id || ':' || total_fen::text || ':' || share_count::text
$$;
