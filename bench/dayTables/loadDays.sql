-- Days of books for the scale measurement (bench/dayTables/scale.sh), written straight into either schema:
-- the single tables before migration 0017 (part = 0) or the day partitions (part = 1, with their day
-- column). psql variables: back_first and back_last (days before today, inclusive; 0 is today), per_day
-- (packets per day, 100 shares, 5 claims each), users, part. Today and yesterday are live: their packets
-- open and their claims uncredited (the pump's backlog); older days are finished and credited, with a
-- credit transfer per claim. Seq follows time (a day's lines above every older day's), as the service writes
-- them, so a bills page reads the newest lines on both schemas.
\set ON_ERROR_STOP on
-- Foreign keys are checked by triggers, which a replica's role skips: the rows are consistent by
-- construction, and a check through the partitioned parent would cost hundreds of microseconds a row.
SET session_replication_role = replica;
CREATE TEMP TABLE gen AS
SELECT to_char(d, 'YYYYMMDD') || 'cn1r' || lpad(n::text, 11, '0') || 'aaaaaaaaaaaaa' AS id, d::date AS day, n,
       d::date >= (now() AT TIME ZONE 'UTC')::date - 1 AS live,
       ((d::date - date '2000-01-01') * 10000000::bigint) AS seq_base
  FROM generate_series((now() AT TIME ZONE 'UTC')::date - :back_last,
                       (now() AT TIME ZONE 'UTC')::date - :back_first, interval '1 day') d,
       generate_series(1, :per_day) n;
\if :part
SELECT ensure_day_partitions((SELECT min(day) FROM gen), (SELECT max(day) FROM gen));
\endif
INSERT INTO packets (:day_col id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count, status,
                     expires_at, created_at)
SELECT :day_val id, 's' || (n % 100), 'random', 10000, 100, 9900, 95,
       CASE WHEN live THEN 'open' ELSE 'finished' END, now() + interval '1 day', day + n * interval '1 ms'
  FROM gen;
INSERT INTO accounts (id, kind, owner_id, balance_fen) SELECT 'escrow:' || id, 'escrow', id, 10000 FROM gen;
INSERT INTO transfers (:day_col id, seq, debit_account_id, credit_account_id, amount_fen, kind, packet_id, created_at)
OVERRIDING SYSTEM VALUE
SELECT :day_val 'pay:' || id, seq_base + n * 6, 'wallet:s' || (n % 100), 'escrow:' || id, 10000, 'pay', id,
       day + n * interval '1 ms'
  FROM gen;
INSERT INTO claims (:day_col id, packet_id, user_id, seq, amount_fen, created_at, credited_at)
SELECT :day_val id || '-' || k, id, 'u' || ((n * 7 + k * 131) % :users), k, 20, day + n * interval '1 ms',
       CASE WHEN NOT live THEN day + n * interval '1 ms' END
  FROM gen, generate_series(1, 5) k;
INSERT INTO transfers (:day_col id, seq, debit_account_id, credit_account_id, amount_fen, kind, packet_id, claim_id,
                       created_at)
OVERRIDING SYSTEM VALUE
SELECT :day_val 'credit:' || id || '-' || k, seq_base + n * 6 + k, 'escrow:' || id,
       'wallet:u' || ((n * 7 + k * 131) % :users), 20, 'credit', id, id || '-' || k, day + n * interval '1 ms'
  FROM gen, generate_series(1, 5) k WHERE NOT live;
