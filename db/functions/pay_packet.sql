-- Pays a packet at most once, fenced by its payment_decisions row (0006): the first attempt to reach a
-- verdict writes it under the row's lock; an attempt that finds one obeys it.
--
-- verdict: 'paid' (now or before), 'conflict' (the id belongs to another send's packet), or 'refused' with the
-- reason ('insufficient_funds', or 'invalid_packet' when a row breaks a schema rule) and Postgres' message.
CREATE OR REPLACE FUNCTION pay_packet(
  p_packet_id text, p_fingerprint text, p_sender_id text, p_type text, p_total_fen bigint, p_share_count int,
  p_greeting text, p_recipient_id text, p_audience text[], p_expires_at_ms float8
) RETURNS TABLE (verdict text, reason text, detail text) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  d payment_decisions%ROWTYPE;
  wallet_id text := wallet_account(p_sender_id);
  escrow_id text := escrow_account(p_packet_id);
  wallet_balance bigint;
BEGIN
  INSERT INTO payment_decisions (packet_id, fingerprint) VALUES (p_packet_id, p_fingerprint)
  ON CONFLICT (packet_id) DO UPDATE SET packet_id = EXCLUDED.packet_id
  RETURNING * INTO d;
  -- The id was handed out twice: answering "paid" here would let a send succeed without a debit.
  IF NOT payment_decision_owned(p_packet_id, d.fingerprint, p_fingerprint, p_sender_id, p_total_fen, p_share_count) THEN
    RETURN QUERY SELECT 'conflict'::text, NULL::text, NULL::text;
    RETURN;
  END IF;
  IF d.outcome = 'paid' THEN
    RETURN QUERY SELECT 'paid'::text, NULL::text, NULL::text;
    RETURN;
  END IF;
  IF d.outcome = 'refused' THEN
    RETURN QUERY SELECT 'refused'::text, coalesce(d.reason, 'insufficient_funds'), NULL::text;
    RETURN;
  END IF;

  -- The block is a subtransaction: a refusal undoes the partial payment and still records the verdict below,
  -- under the same lock.
  BEGIN
    -- The packet's day has partitions ahead of time (ensure_day_partitions, run by the upkeep); when it has
    -- none (the upkeep is days behind, which readiness and the reconcile report already raise, or an id from a
    -- day outside the window) they are made here, so the payment goes through instead of failing.
    IF to_regclass(quote_ident(current_schema()) || '.packets_' || to_char(day_of_id(p_packet_id), 'YYYYMMDD'))
       IS NULL AND day_of_id(p_packet_id) > date '1970-01-01' THEN
      PERFORM ensure_day_partitions(day_of_id(p_packet_id), day_of_id(p_packet_id));
    END IF;
    INSERT INTO packets (day, id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count,
      greeting, recipient_id, audience, expires_at)
    VALUES (day_of_id(p_packet_id), p_packet_id, p_sender_id, p_type, p_total_fen, p_share_count, p_total_fen, p_share_count,
      p_greeting, p_recipient_id, p_audience, to_timestamp(p_expires_at_ms / 1000));
    INSERT INTO accounts (id, kind, owner_id) VALUES (escrow_id, 'escrow', p_packet_id) ON CONFLICT (id) DO NOTHING;
    INSERT INTO accounts (id, kind, owner_id) VALUES (wallet_id, 'wallet', p_sender_id) ON CONFLICT (id) DO NOTHING;
    -- Accounts are locked in id order, as ledger/transfers.ts locks them ('escrow:' sorts before 'wallet:').
    PERFORM 1 FROM accounts WHERE id IN (escrow_id, wallet_id) ORDER BY id FOR UPDATE;
    SELECT balance_fen INTO wallet_balance FROM accounts WHERE id = wallet_id;
    IF wallet_balance < p_total_fen THEN
      RAISE EXCEPTION 'account % cannot cover % fen', wallet_id, p_total_fen USING ERRCODE = 'RP001';
    END IF;
    PERFORM apply_transfers(ARRAY[transfer_id('pay', p_packet_id)], ARRAY[wallet_id], ARRAY[escrow_id],
      ARRAY[p_total_fen], ARRAY['pay'], ARRAY[p_packet_id], ARRAY[NULL::text]);
  EXCEPTION
    WHEN SQLSTATE 'RP001' THEN
      UPDATE payment_decisions SET outcome = 'refused', reason = 'insufficient_funds', decided_at = now()
      WHERE packet_id = p_packet_id;
      RETURN QUERY SELECT 'refused'::text, 'insufficient_funds'::text, SQLERRM;
      RETURN;
    -- A refused row (a CHECK, or a value Postgres cannot store, class 22) is a bad request that slipped past
    -- validation.
    WHEN check_violation OR data_exception THEN
      UPDATE payment_decisions SET outcome = 'refused', reason = 'invalid_packet', decided_at = now()
      WHERE packet_id = p_packet_id;
      RETURN QUERY SELECT 'refused'::text, 'invalid_packet'::text, SQLERRM;
      RETURN;
  END;
  UPDATE payment_decisions SET outcome = 'paid', decided_at = now() WHERE packet_id = p_packet_id;
  RETURN QUERY SELECT 'paid'::text, NULL::text, NULL::text;
END
$$;
