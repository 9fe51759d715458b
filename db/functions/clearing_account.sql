-- Account ids in SQL (docs/rules.md): a cell's clearing account with another cell, one per pump lane, owned by
-- `<otherCell>:<lane>` (docs/cells.md). domain/accounts.ts (clearingAccount) spells the same id for
-- TypeScript; test/integration/ruleOwnersSql.test.ts fails when the two drift. Inlined like wallet_account.
CREATE OR REPLACE FUNCTION clearing_account(owner_id text)
RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 'clearing:' || owner_id
$$;
