-- The transfer id of a deposit (ledger/deposits.ts, docs/day-tables.md): `deposit:<yyyymmdd>:<key>`, the day
-- the key was first used, so the deposit lands in that day's partition of transfers. The caller's key stays
-- the idempotency key for ever: deposit_keys (0017) remembers each key's id, so the same key on a later day
-- (or a concurrent call, which waits here for the first) gets the first id and replays its deposit. Keys
-- used before 0017 map to their old ids, `deposit:<key>`. Called inside the deposit's transaction, so a
-- deposit that fails forgets its key too.
CREATE OR REPLACE FUNCTION deposit_transfer_id(p_key text)
RETURNS text LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  today date := (now() AT TIME ZONE 'UTC')::date;
  id text;
BEGIN
  INSERT INTO deposit_keys (key, transfer_id)
  VALUES (p_key, transfer_id('deposit', to_char(today, 'YYYYMMDD') || ':' || p_key))
  ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
  RETURNING transfer_id INTO id;
  -- As pay_packet does: a day the upkeep has not reached gets its partitions now, not a failed deposit.
  IF to_regclass(quote_ident(current_schema()) || '.transfers_' || to_char(transfer_day(id), 'YYYYMMDD')) IS NULL
     AND transfer_day(id) > date '1970-01-01' THEN
    PERFORM ensure_day_partitions(transfer_day(id), transfer_day(id));
  END IF;
  RETURN id;
END
$$;
