-- What keeps a day from going cold (docs/day-tables.md, "Cold days"), one line per reason, none when the day
-- is settled: every packet finished (none open, none closed with credits owed), every claim credited, no
-- claim set aside after failed credits, every cross-cell credit delivered to its home cell, no payment
-- still undecided, and every escrow of the day empty. The day's money then never moves again, so a snapshot
-- of it stays true. Read without locks by the job's first look, and again by freeze_cold_day under its locks.
--
-- The tables that are not partitioned are read by id range: every id of the day starts with its yyyymmdd
-- (day_of_id), so the range walks their primary keys, and day_of_id then keeps exactly the day's ids.
CREATE OR REPLACE FUNCTION cold_day_blockers(p_day date)
RETURNS text[] LANGUAGE plpgsql STABLE AS $$
DECLARE
  lo text := to_char(p_day, 'YYYYMMDD');
  hi text := to_char(p_day + 1, 'YYYYMMDD');
  blockers text[] := '{}';
  n bigint;
BEGIN
  SELECT count(*) INTO n FROM packets WHERE day = p_day AND (status = 'open' OR status = 'closed');
  IF n > 0 THEN blockers := blockers || format('%s packets not finished', n); END IF;
  SELECT count(*) INTO n FROM claims WHERE day = p_day AND credited_at IS NULL;
  IF n > 0 THEN blockers := blockers || format('%s claims not credited', n); END IF;
  SELECT count(*) INTO n FROM credit_failures
   WHERE claim_id >= lo AND claim_id < hi AND day_of_id(claim_id) = p_day;
  IF n > 0 THEN blockers := blockers || format('%s claims set aside', n); END IF;
  SELECT count(*) INTO n FROM xcredit_outbox
   WHERE claim_id >= lo AND claim_id < hi AND day_of_id(claim_id) = p_day AND delivered_at IS NULL;
  IF n > 0 THEN blockers := blockers || format('%s cross-cell credits not delivered', n); END IF;
  SELECT count(*) INTO n FROM payment_decisions
   WHERE packet_id >= lo AND packet_id < hi AND day_of_id(packet_id) = p_day AND outcome IS NULL;
  IF n > 0 THEN blockers := blockers || format('%s payments undecided', n); END IF;
  SELECT count(*) INTO n FROM accounts
   WHERE id >= escrow_account(lo) AND id < escrow_account(hi) AND kind = 'escrow'
     AND day_of_id(owner_id) = p_day AND balance_fen <> 0;
  IF n > 0 THEN blockers := blockers || format('%s escrows still holding money', n); END IF;
  RETURN blockers;
END
$$;
