-- The day CHECKs (0017) as plain expressions instead of calls of day_of_id and transfer_day.
--
-- Why: Postgres prepares a table's CHECK expressions at every INSERT or UPDATE statement, and preparing a
-- call of a SQL function inlines it, which parses and analyses the function's text again each time. The open
-- writes a claim and updates its packet, and a credit writes transfers, so each paid that per statement:
-- about 65 us of the open's 460 us of Postgres time here (docs/day-tables.md, "Keys and checks").
--
-- The expressions are not written here by hand: they are day_of_id's and transfer_day's own, as the planner
-- inlines them (EXPLAIN VERBOSE of the calls on a scratch table), so the functions stay the rule's one
-- owner. Those functions never change what they return for a stored id (db/functions/day_of_id.sql), so the
-- constraints never need to follow them. NOT VALID then VALIDATE: the rows were checked by the same rule
-- under the old constraints; validation reads them again and takes no lock that stops writes.
DO $$
DECLARE
  plan json;
  day_of_row_id text;
  day_of_packet_id text;
  day_of_transfer_id text;
BEGIN
  CREATE TEMP TABLE day_check_probe (id text, packet_id text) ON COMMIT DROP;
  EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON, COSTS OFF)
           SELECT day_of_id(id), day_of_id(packet_id), transfer_day(id) FROM day_check_probe' INTO plan;
  day_of_row_id := plan -> 0 -> 'Plan' -> 'Output' ->> 0;
  day_of_packet_id := plan -> 0 -> 'Plan' -> 'Output' ->> 1;
  day_of_transfer_id := plan -> 0 -> 'Plan' -> 'Output' ->> 2;
  IF day_of_row_id IS NULL OR day_of_row_id ~ 'day_of_id' OR day_of_transfer_id ~ '(day_of_id|transfer_day)' THEN
    RAISE EXCEPTION 'day_of_id or transfer_day is no longer inlined: %, %', day_of_row_id, day_of_transfer_id;
  END IF;

  ALTER TABLE packets DROP CONSTRAINT packets_day;
  EXECUTE format('ALTER TABLE packets ADD CONSTRAINT packets_day CHECK (day = %s) NOT VALID', day_of_row_id);
  ALTER TABLE claims DROP CONSTRAINT claims_day;
  EXECUTE format('ALTER TABLE claims ADD CONSTRAINT claims_day CHECK (day = %s AND day = %s) NOT VALID',
                 day_of_packet_id, day_of_row_id);
  ALTER TABLE transfers DROP CONSTRAINT transfers_day;
  EXECUTE format('ALTER TABLE transfers ADD CONSTRAINT transfers_day CHECK (day = %s) NOT VALID',
                 day_of_transfer_id);
END
$$;

ALTER TABLE packets VALIDATE CONSTRAINT packets_day;
ALTER TABLE claims VALIDATE CONSTRAINT claims_day;
ALTER TABLE transfers VALIDATE CONSTRAINT transfers_day;
