-- Transfer ids in SQL (docs/rules.md): `<kind>:<key>`, the key being the deposit's key, the packet id (pay,
-- refund) or the claim id (credit). domain/accounts.ts (transferIds) spells the same ids for TypeScript;
-- test/integration/ruleOwnersSql.test.ts fails when the two drift. Inlined by the planner.
CREATE OR REPLACE FUNCTION transfer_id(kind text, key text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT kind || ':' || key
$$;
