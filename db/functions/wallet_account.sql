-- Account ids in SQL (docs/rules.md): a user's wallet. domain/accounts.ts spells the same id for TypeScript;
-- test/integration/ruleOwnersSql.test.ts fails when the two drift. A one-expression IMMUTABLE SQL function,
-- so the planner inlines it and a join on it still uses the accounts index.
CREATE OR REPLACE FUNCTION wallet_account(user_id text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 'wallet:' || user_id
$$;
