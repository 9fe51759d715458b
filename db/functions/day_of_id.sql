-- The day of a packet or claim id (docs/day-tables.md): its first eight characters read as yyyymmdd, which
-- every allocated packet id starts with (packets/gate/ids.ts) and every claim id inherits (`<packetId>-<seq>`).
-- An id without that prefix (a hand-written test id, a packet older than the dated format) belongs to the
-- legacy day, 1970-01-01. The packets, claims and transfers tables are partitioned by this day, and a CHECK
-- on each ties a row's day to its id, so (day, id) unique means id unique, exactly as the old primary key.
--
-- Total and never raising: any text has a day, so a malformed id in a lookup finds nothing instead of
-- failing. A 31st of a short month counts on from the 1st (20260230 is 2026-03-02): no allocated id has one.
-- Never change what this returns for an existing id: the CHECKs would no longer hold for stored rows (a
-- change is a migration that moves them). One IMMUTABLE expression, so the planner inlines it and a lookup
-- by a parameter still prunes to one partition at executor start.
CREATE OR REPLACE FUNCTION day_of_id(id text)
RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN id ~ '^[12][0-9]{3}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])'
      THEN make_date(substr(id, 1, 4)::int, substr(id, 5, 2)::int, 1) + (substr(id, 7, 2)::int - 1)
    ELSE date '1970-01-01'
  END
$$;
