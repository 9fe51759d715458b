-- The last step of a cold day (docs/day-tables.md, "Cold days"): checks the day's three tables, detached and
-- moved into the archive schema p_schema, against what snapshot_cold_day recorded while they were live (row
-- counts, the sum of the transfers, and each account's money in and out), and marks the day archived. Returns
-- what does not match; anything returned leaves the day 'cold' (reported, retried by the next run), so an
-- archive is never called done unless it holds exactly the money the snapshot says. A day already archived
-- returns nothing.
CREATE OR REPLACE FUNCTION mark_day_archived(p_day date, p_schema text, p_tablespace text)
RETURNS text[] LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  d cold_days%ROWTYPE;
  suffix text := to_char(p_day, 'YYYYMMDD');
  mismatches text[] := '{}';
  n bigint;
  fen bigint;
BEGIN
  SELECT * INTO d FROM cold_days WHERE day = p_day FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'day % is not cold', p_day USING ERRCODE = 'object_not_in_prerequisite_state';
  END IF;
  IF d.state = 'archived' THEN
    RETURN mismatches;
  END IF;
  EXECUTE format('SELECT count(*) FROM %I.%I WHERE day = $1', p_schema, 'packets_' || suffix) INTO n USING p_day;
  IF n <> d.packet_count THEN
    mismatches := mismatches || format('packets: %s archived, %s at snapshot', n, d.packet_count);
  END IF;
  EXECUTE format('SELECT count(*) FROM %I.%I WHERE day = $1', p_schema, 'claims_' || suffix) INTO n USING p_day;
  IF n <> d.claim_count THEN
    mismatches := mismatches || format('claims: %s archived, %s at snapshot', n, d.claim_count);
  END IF;
  EXECUTE format('SELECT count(*), coalesce(sum(amount_fen), 0) FROM %I.%I WHERE day = $1',
                 p_schema, 'transfers_' || suffix) INTO n, fen USING p_day;
  IF n <> d.transfer_count OR fen <> d.transfers_fen THEN
    mismatches := mismatches || format('transfers: %s archived summing %s fen, %s at snapshot summing %s fen',
                                       n, fen, d.transfer_count, d.transfers_fen);
  END IF;
  -- Every account's money in and out of the day, from the archived rows, against its snapshot.
  SELECT count(*) INTO n
    FROM day_account_movements(format('%I.%I', p_schema, 'transfers_' || suffix)::regclass) AS a
    FULL JOIN (SELECT * FROM day_snapshots WHERE day = p_day) AS s USING (account_id)
   WHERE a.credited_fen IS DISTINCT FROM s.credited_fen OR a.debited_fen IS DISTINCT FROM s.debited_fen
      OR a.transfer_count IS DISTINCT FROM s.transfer_count;
  IF n > 0 THEN
    mismatches := mismatches || format('%s accounts differ from their snapshot', n);
  END IF;
  IF cardinality(mismatches) = 0 THEN
    UPDATE cold_days SET state = 'archived', archived_at = now(), archive_schema = p_schema,
                         archive_tablespace = p_tablespace
     WHERE day = p_day;
  END IF;
  RETURN mismatches;
END
$$;
