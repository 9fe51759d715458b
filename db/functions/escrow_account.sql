-- Account ids in SQL (docs/rules.md): a packet's escrow. domain/accounts.ts spells the same id for TypeScript;
-- test/integration/ruleOwnersSql.test.ts fails when the two drift. Inlined by the planner like wallet_account.
CREATE OR REPLACE FUNCTION escrow_account(packet_id text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 'escrow:' || packet_id
$$;
