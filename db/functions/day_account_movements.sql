-- What one day's transfers moved in and out of each account: the rows of p_transfers, a day's transfers
-- partition wherever it lives (in the live schema before the day goes cold, in the archive schema after).
-- snapshot_cold_day writes these as the day's snapshot; mark_day_archived checks the archive against it, so
-- both read the movements the same way.
CREATE OR REPLACE FUNCTION day_account_movements(p_transfers regclass)
RETURNS TABLE (account_id text, credited_fen bigint, debited_fen bigint, transfer_count bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
  RETURN QUERY EXECUTE format(
    'SELECT m.account_id, sum(m.credited_fen)::bigint, sum(m.debited_fen)::bigint, count(*)
       FROM (SELECT credit_account_id AS account_id, amount_fen AS credited_fen, 0::bigint AS debited_fen FROM %1$s
             UNION ALL
             SELECT debit_account_id, 0::bigint, amount_fen FROM %1$s) AS m
      GROUP BY m.account_id',
    p_transfers);
END
$$;
