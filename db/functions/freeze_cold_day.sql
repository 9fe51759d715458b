-- The first step of a cold day (docs/day-tables.md, "Cold days"): under an exclusive lock on the day's three
-- partitions (packets, claims, transfers, the upkeep's order), checks the day is settled (cold_day_blockers)
-- and, when it is, makes its partitions refuse every new or changed row: a NOT VALID CHECK (false) holds for
-- the rows already there and fails any insert or update. Returns the blockers; none means frozen. Running it
-- again on a frozen day finds its constraints and changes nothing.
--
-- Why freeze before the snapshot: the snapshot sums the whole day, which takes a while on a big day, and
-- holding the exclusive lock that long would stall every statement whose generic plan locks all partitions.
-- Frozen, the day cannot change, so snapshot_cold_day reads it under ordinary locks and is still exact.
-- The caller sets a short lock_timeout: a busy moment fails the call, and the next run tries again.
CREATE OR REPLACE FUNCTION freeze_cold_day(p_day date)
RETURNS text[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  parent text;
  part text;
  blockers text[];
BEGIN
  IF p_day <= date '1970-01-01' THEN
    RAISE EXCEPTION 'the legacy day is never archived' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  FOREACH parent IN ARRAY ARRAY['packets', 'claims', 'transfers'] LOOP
    part := parent || '_' || to_char(p_day, 'YYYYMMDD');
    IF to_regclass(quote_ident(current_schema()) || '.' || quote_ident(part)) IS NULL THEN
      RAISE EXCEPTION 'day % has no partition %', p_day, part USING ERRCODE = 'undefined_table';
    END IF;
    EXECUTE format('LOCK TABLE %I IN ACCESS EXCLUSIVE MODE', part);
  END LOOP;
  blockers := cold_day_blockers(p_day);
  IF cardinality(blockers) > 0 THEN
    RETURN blockers;
  END IF;
  FOREACH parent IN ARRAY ARRAY['packets', 'claims', 'transfers'] LOOP
    part := parent || '_' || to_char(p_day, 'YYYYMMDD');
    IF NOT EXISTS (SELECT 1 FROM pg_constraint
                    WHERE conrelid = (quote_ident(current_schema()) || '.' || quote_ident(part))::regclass
                      AND conname = part || '_cold') THEN
      EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (false) NOT VALID', part, part || '_cold');
    END IF;
  END LOOP;
  RETURN blockers;
END
$$;
