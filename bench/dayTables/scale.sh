#!/usr/bin/env bash
# Issue 30's scale figures (docs/day-tables.md, "Figures at scale"): bills p99 and the pump's batch read with
# about 10 million transfers and a million uncredited claims, on the single tables (migrations before 0017)
# and on the day partitions (every migration and db/functions), measured as days are added.
#
# Today and yesterday are loaded first (PER_DAY packets each, 5 claims a packet, all uncredited: 1 M claims at
# the default), then older, credited days are added in steps (STEPS, days before today), and after each
# step both schemas are timed with pgbench (1 client, prepared, SECONDS_EACH seconds a statement, the two
# schemas alternating statement by statement so both see the same machine). Latencies come from pgbench's
# per-transaction log: p50 and p99 in milliseconds.
#
# Usage: [PER_DAY=100000] [STEPS="2 8 17"] [USERS=10000] [SECONDS_EACH=10] [KEEP=1] bench/dayTables/scale.sh
# At the defaults the last step holds 1.9 M packets, 9.5 M claims and 10.4 M transfers in each schema: about
# 4 GB a schema and 20-30 minutes of loading on the 2-core development machine. Needs psql and pgbench
# (PGHOST/PGUSER, default 127.0.0.1 and postgres); makes and drops the databases dt_single and dt_part.
set -euo pipefail
cd "$(dirname "$0")/../.."
PER_DAY=${PER_DAY:-100000}
STEPS=${STEPS:-"2 8 17"}
USERS=${USERS:-10000}
SECONDS_EACH=${SECONDS_EACH:-10}
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
since() { printf '%.0f' "$(echo "$(now) - $1" | bc)"; }

for db in dt_single dt_part; do
  psql_q -c "DROP DATABASE IF EXISTS $db"
  psql_q -c "CREATE DATABASE $db"
done
for f in db/migrations/*.sql; do
  n=$(basename "$f" | cut -c1-4)
  if [ "$n" -lt 17 ]; then psql_q -d dt_single -f "$f"; fi
  psql_q -d dt_part -f "$f"
done
for f in db/functions/*.sql; do psql_q -d dt_part -c 'SET check_function_bodies = off' -f "$f"; done
for db in dt_single dt_part; do
  psql_q -d "$db" -c "INSERT INTO accounts (id, kind, owner_id)
    SELECT 'wallet:' || u, 'wallet', u FROM (SELECT 'u' || i AS u FROM generate_series(0, $USERS - 1) i
                                             UNION ALL SELECT 's' || i FROM generate_series(0, 99) i) users
    ON CONFLICT DO NOTHING"
done

load() { # first last: days before today, inclusive
  local part
  for db in dt_single dt_part; do
    part=0
    [ "$db" = dt_part ] && part=1
    local start
    start=$(now)
    if [ "$part" = 1 ]; then
      psql_q -d "$db" -v back_first="$1" -v back_last="$2" -v per_day="$PER_DAY" -v users="$USERS" \
        -v part=1 -v day_col='day,' -v day_val='day,' -f bench/dayTables/loadDays.sql
    else
      psql_q -d "$db" -v back_first="$1" -v back_last="$2" -v per_day="$PER_DAY" -v users="$USERS" \
        -v part=0 -v day_col= -v day_val= -f bench/dayTables/loadDays.sql
    fi
    psql_q -d "$db" -c 'VACUUM ANALYZE'
    echo "loaded days $1-$2 before today into $db in $(since "$start") s"
  done
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The pump's pick (packets/store/credits.ts lockQueuedClaims, at 95fde5d for the single tables): 500 claims
# of shard 0 of 8, the large half and the rest, locked and rolled back so every run reads the same queue.
queue() {
  local days_sql=$1
  cat <<SQL
BEGIN;
SELECT count(*) FROM (
  SELECT * FROM (
    SELECT * FROM (SELECT c.id, c.packet_id, c.user_id, c.amount_fen FROM claims c WHERE c.credited_at IS NULL $days_sql
       AND (hashtext(c.packet_id) & 2147483647) BETWEEN 0 AND 268435455
       AND NOT EXISTS (SELECT 1 FROM credit_failures f WHERE f.claim_id = c.id) AND c.amount_fen >= 5000
       ORDER BY c.amount_fen DESC, c.created_at, c.id LIMIT 500 FOR UPDATE OF c SKIP LOCKED) large
    UNION ALL
    SELECT * FROM (SELECT c.id, c.packet_id, c.user_id, c.amount_fen FROM claims c WHERE c.credited_at IS NULL $days_sql
       AND (hashtext(c.packet_id) & 2147483647) BETWEEN 0 AND 268435455
       AND NOT EXISTS (SELECT 1 FROM credit_failures f WHERE f.claim_id = c.id) AND c.amount_fen < 5000
       ORDER BY c.created_at, c.id LIMIT 500 FOR UPDATE OF c SKIP LOCKED) rest) queue LIMIT 500) q;
ROLLBACK;
SQL
}
queue "" >"$tmp/queue_single.sql"
# The queue's days as the pump passes them (queueDayBounds): dates, which Postgres prunes by when it plans.
queue "AND (c.day BETWEEN date '$(date -u -d '-9 day' +%F)' AND date '$(date -u -d '+1 day' +%F)' OR c.day = date '1970-01-01')" >"$tmp/queue_part.sql"
# A first bills page of a recipient (ledger/reads.ts; at 95fde5d for the single tables): 20 lines, newest
# first. chr(58) is ":", which pgbench would read as a variable inside the literal.
cat >"$tmp/bills_single.sql" <<SQL
\\set u random(0, $((USERS - 1)))
SELECT * FROM (
  (SELECT id, seq, kind, -amount_fen AS signed_fen, packet_id, claim_id, created_at FROM transfers
    WHERE debit_account_id = 'wallet' || chr(58) || 'u' || :u::text ORDER BY seq DESC LIMIT 21)
  UNION ALL
  (SELECT id, seq, kind, amount_fen, packet_id, claim_id, created_at FROM transfers
    WHERE credit_account_id = 'wallet' || chr(58) || 'u' || :u::text ORDER BY seq DESC LIMIT 21)
) l ORDER BY seq DESC LIMIT 21;
SQL
cat >"$tmp/bills_part.sql" <<SQL
\\set u random(0, $((USERS - 1)))
SELECT * FROM (
  (SELECT to_char(day, 'YYYY-MM-DD') AS day, id, seq, kind, -amount_fen AS signed_fen, packet_id, claim_id, created_at
     FROM transfers WHERE debit_account_id = 'wallet' || chr(58) || 'u' || :u::text ORDER BY transfers.day DESC, seq DESC LIMIT 21)
  UNION ALL
  (SELECT to_char(day, 'YYYY-MM-DD') AS day, id, seq, kind, amount_fen, packet_id, claim_id, created_at
     FROM transfers WHERE credit_account_id = 'wallet' || chr(58) || 'u' || :u::text ORDER BY transfers.day DESC, seq DESC LIMIT 21)
) l ORDER BY day DESC, seq DESC LIMIT 21;
SQL

# The page as the product reads it now (ledger/reads.ts): the first window of days, a week back from tomorrow,
# its bounds pruning the other days before any scan starts (as the statement's parameters do).
cat >"$tmp/window_part.sql" <<SQL
\\set u random(0, $((USERS - 1)))
SELECT * FROM (
  (SELECT to_char(day, 'YYYY-MM-DD') AS day, id, seq, kind, -amount_fen AS signed_fen, packet_id, claim_id, created_at
     FROM transfers WHERE debit_account_id = 'wallet' || chr(58) || 'u' || :u::text
      AND day BETWEEN current_date - 5 AND 'infinity' ORDER BY transfers.day DESC, seq DESC LIMIT 21)
  UNION ALL
  (SELECT to_char(day, 'YYYY-MM-DD') AS day, id, seq, kind, amount_fen, packet_id, claim_id, created_at
     FROM transfers WHERE credit_account_id = 'wallet' || chr(58) || 'u' || :u::text
      AND day BETWEEN current_date - 5 AND 'infinity' ORDER BY transfers.day DESC, seq DESC LIMIT 21)
) l ORDER BY day DESC, seq DESC LIMIT 21;
SQL
cp "$tmp/bills_single.sql" "$tmp/window_single.sql"

# Prints "p50 p99 tps" (ms, ms, transactions a second) of one statement on one database.
measure() {
  local db=$1 script=$2
  rm -f "$tmp"/pgbench_log.*
  (cd "$tmp" && pgbench -n -M prepared -c 1 -T "$SECONDS_EACH" -l --log-prefix=pgbench_log -f "$script" "$db" >/dev/null 2>&1)
  # Column 3 of the per-transaction log is the latency in microseconds.
  cat "$tmp"/pgbench_log.* | awk '{print $3}' | sort -n | awk -v s="$SECONDS_EACH" '
    { v[NR] = $1 } END {
      p50 = v[int(NR * 0.50) > 0 ? int(NR * 0.50) : 1]; p99 = v[int(NR * 0.99) > 0 ? int(NR * 0.99) : 1];
      printf "%.2f %.2f %.0f\n", p50 / 1000, p99 / 1000, NR / s }'
}

counts() {
  psql -X -At -d "$1" -c "SELECT (SELECT count(*) FROM transfers), (SELECT count(*) FROM claims WHERE credited_at IS NULL),
    (SELECT count(*) FROM claims)" | tr '|' ' '
}

echo "| days | transfers | uncredited claims | statement | single p50 / p99 (ms) | partitioned p50 / p99 (ms) |"
echo "| ---- | --------- | ----------------- | --------- | --------------------- | -------------------------- |"
loaded_back=-1
load 0 1
loaded_back=1
for step in $STEPS; do
  if [ "$step" -gt "$loaded_back" ]; then load $((loaded_back + 1)) "$step"; fi
  loaded_back=$step
  read -r transfers uncredited _ < <(counts dt_part)
  for statement in queue bills window; do
    read -r s50 s99 _ < <(measure dt_single "$tmp/${statement}_single.sql")
    read -r p50 p99 _ < <(measure dt_part "$tmp/${statement}_part.sql")
    echo "| $((step + 1)) | $transfers | $uncredited | $statement | $s50 / $s99 | $p50 / $p99 |"
  done
done
if [ "${KEEP:-}" != 1 ]; then for db in dt_single dt_part; do psql_q -c "DROP DATABASE $db"; done; fi
