-- Books for the day-tables measurement (bench/dayTables/run.sh), written into the schema before migration
-- 0017: DAYS days of PER_DAY packets of 100 shares with 5 claims each, their pay and credit transfers, and
-- the last two days' claims still uncredited. psql variables: days, per_day.
INSERT INTO accounts (id, kind, owner_id)
SELECT 'wallet:' || u, 'wallet', u FROM (SELECT 'u' || i AS u FROM generate_series(0, 999) i
                                         UNION ALL SELECT 's' || i FROM generate_series(0, 99) i) users;
CREATE TEMP TABLE gen AS
SELECT to_char(d, 'YYYYMMDD') || 'cn1r' || lpad(n::text, 11, '0') || 'aaaaaaaaaaaaa' AS id, d::date AS day, n,
       d::date >= (now() AT TIME ZONE 'UTC')::date - 1 AS live
  FROM generate_series((now() AT TIME ZONE 'UTC')::date - (:days - 1), (now() AT TIME ZONE 'UTC')::date, interval '1 day') d,
       generate_series(1, :per_day) n;
INSERT INTO packets (id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count, status, expires_at,
                     created_at)
SELECT id, 's' || (n % 100), 'random', 10000, 100, 9900, 95, CASE WHEN live THEN 'open' ELSE 'finished' END,
       now() + interval '1 day', day + n * interval '1 ms' FROM gen;
INSERT INTO accounts (id, kind, owner_id, balance_fen) SELECT 'escrow:' || id, 'escrow', id, 10000 FROM gen;
INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_fen, kind, packet_id, created_at)
SELECT 'pay:' || id, 'wallet:s' || (n % 100), 'escrow:' || id, 10000, 'pay', id, day + n * interval '1 ms' FROM gen;
INSERT INTO claims (id, packet_id, user_id, seq, amount_fen, created_at, credited_at)
SELECT id || '-' || k, id, 'u' || ((n * 7 + k) % 1000), k, 20, day + n * interval '1 ms',
       CASE WHEN NOT live THEN day + n * interval '1 ms' END
  FROM gen, generate_series(1, 5) k;
INSERT INTO transfers (id, debit_account_id, credit_account_id, amount_fen, kind, packet_id, claim_id, created_at)
SELECT 'credit:' || id || '-' || k, 'escrow:' || id, 'wallet:u' || ((n * 7 + k) % 1000), 20, 'credit', id,
       id || '-' || k, day + n * interval '1 ms'
  FROM gen, generate_series(1, 5) k WHERE NOT live;
ANALYZE;
