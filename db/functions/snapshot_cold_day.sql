-- The second step of a cold day (docs/day-tables.md, "Cold days"): in one transaction, writes what the day
-- moved in and out of each account (day_snapshots) and its row in cold_days, which takes the day out of the
-- live tables for every reader that counts money (the audit reads the live_* views, which leave cold days
-- out). From this commit on, an account's balance is its snapshots plus its live transfers, and the day's
-- partitions may be detached at leisure. Returns false when the day was already cold (a rerun).
--
-- The day must be frozen (freeze_cold_day): its partitions refuse every change, so the sums read here stay
-- the day's for good. A concurrent run waits on the cold_days key and then finds the day cold.
CREATE OR REPLACE FUNCTION snapshot_cold_day(p_day date)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  parent text;
  part text;
BEGIN
  FOREACH parent IN ARRAY ARRAY['packets', 'claims', 'transfers'] LOOP
    part := parent || '_' || to_char(p_day, 'YYYYMMDD');
    IF NOT EXISTS (SELECT 1 FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
                    WHERE r.relnamespace = current_schema()::regnamespace AND r.relname = part
                      AND c.conname = part || '_cold') THEN
      RAISE EXCEPTION 'day % is not frozen (% has no % constraint)', p_day, part, part || '_cold'
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
  END LOOP;
  INSERT INTO cold_days (day, state, packet_count, claim_count, transfer_count, transfers_fen)
  SELECT p_day, 'cold', (SELECT count(*) FROM packets WHERE day = p_day),
         (SELECT count(*) FROM claims WHERE day = p_day), t.n, t.fen
    FROM (SELECT count(*) AS n, coalesce(sum(amount_fen), 0) AS fen FROM transfers WHERE day = p_day) AS t
  ON CONFLICT (day) DO NOTHING;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  INSERT INTO day_snapshots (account_id, day, credited_fen, debited_fen, transfer_count)
  SELECT m.account_id, p_day, m.credited_fen, m.debited_fen, m.transfer_count
    FROM day_account_movements(
           format('%I.%I', current_schema(), 'transfers_' || to_char(p_day, 'YYYYMMDD'))::regclass) AS m;
  RETURN true;
END
$$;
