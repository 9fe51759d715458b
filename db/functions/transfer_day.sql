-- The day of a transfer id `<kind>:<key>` (docs/day-tables.md): the day of its key, so a packet's pay and
-- refund (key: the packet id) and its claims' credits (key: the claim id) live in the packet's day, and a
-- deposit's (key: `<yyyymmdd>:<caller's key>`, ledger/deposits.ts) in the day it was first asked for.
-- Deposits made before keys carried a day fall in the legacy day, like any key without one. The transfers
-- table's CHECK ties each row's day to this, so it must never change for an existing id (see day_of_id).
CREATE OR REPLACE FUNCTION transfer_day(id text)
RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT day_of_id(substr(id, strpos(id, ':') + 1))
$$;
