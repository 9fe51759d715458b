-- Posting transfers (docs/rules.md): writes the transfer rows and moves every balance they touch, in one
-- statement. The writer of transfers and balances, but for a home cell's xcredits (ledger/xcredits.ts, the
-- exception docs/rules.md explains): ledger/transfers.ts (postTransfers, every other movement but the
-- payment) and pay_packet (the payment) both call it. Callers first lock the accounts in id order
-- and check that each debit is covered (each answers a shortfall its own way); the accounts' CHECK still
-- refuses a negative wallet or escrow should a caller not. Arguments are parallel arrays, one element per
-- transfer; returns the rows written.
CREATE OR REPLACE FUNCTION apply_transfers(
  p_ids text[], p_debit_account_ids text[], p_credit_account_ids text[], p_amounts_fen bigint[], p_kinds text[],
  p_packet_ids text[], p_claim_ids text[]
) RETURNS SETOF transfers LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  -- plpgsql, not sql: its statements' plans are cached per session, where a SQL function is planned per call.
  RETURN QUERY WITH written AS (
    -- Each row's day comes from its id (transfer_day), the partition it belongs to (docs/day-tables.md).
    INSERT INTO transfers (day, id, debit_account_id, credit_account_id, amount_fen, kind, packet_id, claim_id)
    SELECT transfer_day(t.id), t.* FROM unnest(p_ids, p_debit_account_ids, p_credit_account_ids, p_amounts_fen,
                                               p_kinds, p_packet_ids, p_claim_ids)
                                        AS t(id, debit, credit, amount, kind, packet_id, claim_id)
    RETURNING *
  ) SELECT * FROM written;
  -- One transfer (the payment) moves two balances by primary key; a batch moves each account once by its net
  -- amount. The single case skips the aggregation, which is most of a payment's cost here.
  IF cardinality(p_ids) = 1 THEN
    UPDATE accounts SET balance_fen = balance_fen - p_amounts_fen[1] WHERE id = p_debit_account_ids[1];
    UPDATE accounts SET balance_fen = balance_fen + p_amounts_fen[1] WHERE id = p_credit_account_ids[1];
    RETURN;
  END IF;
  UPDATE accounts SET balance_fen = accounts.balance_fen + d.delta_fen
    FROM (SELECT leg.account_id, sum(leg.delta_fen) AS delta_fen
            FROM unnest(p_debit_account_ids || p_credit_account_ids,
                        (SELECT array_agg(-amount) FROM unnest(p_amounts_fen) AS amount) || p_amounts_fen)
                 AS leg(account_id, delta_fen)
           GROUP BY leg.account_id) AS d
   WHERE accounts.id = d.account_id;
END
$$;
