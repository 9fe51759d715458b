-- Day partitions (docs/day-tables.md): makes sure packets, claims and transfers each have a partition for
-- every day from p_first to p_last, and returns how many it created. There is no default partition, so a row
-- whose day has none is refused: the upkeep schedule (workflows/dayTables.ts) runs this ahead of time, and
-- readiness and the reconciliation report raise an alarm when the days ahead run short.
--
-- A partition is created as a plain table and then attached: ATTACH takes SHARE UPDATE EXCLUSIVE on the
-- parent, which opens, sends and credits do not wait for (CREATE TABLE ... PARTITION OF would take ACCESS
-- EXCLUSIVE). The foreign key from claims to packets makes an attach lock the other table briefly against
-- writes, so lock_timeout is short: a busy moment makes the call fail, and the schedule tries again, long
-- before the day is needed. Packets come first, since a claims partition's key references them.
--
-- A cold day (cold_days, docs/day-tables.md "Cold days") is never created again: its money is in its
-- snapshot, and a new partition would let rows of that day count twice. Asking for one raises RP030.
CREATE OR REPLACE FUNCTION ensure_day_partitions(p_first date, p_last date)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  d date;
  parent text;
  part text;
  created int := 0;
  caller_lock_timeout text := current_setting('lock_timeout');
BEGIN
  IF p_last - p_first > 366 THEN
    RAISE EXCEPTION 'at most a year of day partitions at once, not % days', p_last - p_first + 1
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  PERFORM set_config('lock_timeout', '2s', true);
  d := p_first;
  WHILE d <= p_last LOOP
    IF EXISTS (SELECT 1 FROM cold_days WHERE day = d) THEN
      RAISE EXCEPTION 'day % is archived: its partitions are not created again', d USING ERRCODE = 'RP030';
    END IF;
    FOREACH parent IN ARRAY ARRAY['packets', 'claims', 'transfers'] LOOP
      part := parent || '_' || to_char(d, 'YYYYMMDD');
      IF to_regclass(quote_ident(current_schema()) || '.' || quote_ident(part)) IS NULL THEN
        -- A subtransaction: another session creating the same day at once wins, and this one moves on.
        BEGIN
          EXECUTE format('CREATE TABLE %I (LIKE %I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', part, parent);
          -- The range as a CHECK first, so ATTACH need not scan the table to prove it.
          EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (day >= %L AND day < %L)',
            part, part || '_range', d, d + 1);
          EXECUTE format('ALTER TABLE %I ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
            parent, part, d, d + 1);
          EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', part, part || '_range');
          -- The shard-hash statistics of 0010, per partition: the planner estimates a partition's scan from its
          -- own statistics, and without them it sorts a shard's large claims instead of walking the index.
          IF parent = 'claims' THEN
            EXECUTE format('CREATE STATISTICS %I ON ((hashtext(packet_id) & 2147483647)) FROM %I',
              part || '_shard_hash', part);
          END IF;
          created := created + 1;
        EXCEPTION WHEN duplicate_table OR duplicate_object THEN
          NULL;
        END;
      END IF;
    END LOOP;
    d := d + 1;
  END LOOP;
  -- A payment that made its own day's partitions (pay_packet) goes on with its own lock timeout.
  PERFORM set_config('lock_timeout', caller_lock_timeout, true);
  RETURN created;
END
$$;
