#!/usr/bin/env bash
# The day-tables measurement (docs/day-tables.md, "Figures"): the same books on the single tables of
# migration 0016 and on the day partitions of 0017, and pgbench timings of an open (open_share), the pump's
# queue read (a batch of 500 of one shard of 8) and a bills page, on each. Not part of CI or `npm run bench`.
# Usage: [KEEP=1] [REUSE=1] bench/dayTables/run.sh [days] [packets per day]   (defaults 20 and 10000: 1 M claims, 1 M transfers)
# Needs psql, pgbench and the machine's Postgres (PGHOST/PGUSER, default 127.0.0.1 and postgres); makes and
# drops the databases daytables_single and daytables_part.
set -euo pipefail
cd "$(dirname "$0")/../.."
DAYS=${1:-20}
PER_DAY=${2:-10000}
export PGHOST=${PGHOST:-127.0.0.1} PGUSER=${PGUSER:-postgres}
SECONDS_EACH=${SECONDS_EACH:-10}
psql_q() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }
# REUSE=1 measures the databases a KEEP=1 run left, without loading again.
if [ "${REUSE:-}" != 1 ]; then
for db in daytables_single daytables_part; do psql_q -c "DROP DATABASE IF EXISTS $db"; done
psql_q -c 'CREATE DATABASE daytables_single'
for f in db/migrations/*.sql; do
  n=$(basename "$f" | cut -c1-4)
  if [ "$n" -lt 17 ]; then psql_q -d daytables_single -f "$f"; fi
done
start=$(date +%s.%N)
psql_q -d daytables_single -v days="$DAYS" -v per_day="$PER_DAY" -f bench/dayTables/load.sql
echo "loaded $DAYS days x $PER_DAY packets in $(echo "$(date +%s.%N) - $start" | bc) s"
psql_q -c 'CREATE DATABASE daytables_part TEMPLATE daytables_single'
start=$(date +%s.%N)
psql_q -d daytables_part -c 'BEGIN' -f db/migrations/0017_day_tables.sql -c 'COMMIT'
echo "migration 0017 in $(echo "$(date +%s.%N) - $start" | bc) s"
for f in db/functions/*.sql; do psql_q -d daytables_part -c 'SET check_function_bodies = off' -f "$f"; done
psql_q -d daytables_part -c 'ANALYZE'
fi

today=$(date -u +%Y%m%d)
tmp=$(mktemp -d)
# An open of one of today's packets by a random user (repeats are answered from the claim, as in production).
cat > "$tmp/open.sql" <<SQL
\set n random(1, $PER_DAY)
\set u random(1, 1000000)
SELECT * FROM open_share('${today}cn1r' || lpad(:n::text, 11, '0') || 'aaaaaaaaaaaaa', 'b' || :u, 0.5);
SQL
# The queue read of packets/store/credits.ts (lockQueuedClaims), shard 0 of 8, 500 claims, locks rolled back.
queue() {
  local days_sql=$1
  cat <<SQL
BEGIN;
SELECT count(*) FROM (
  SELECT * FROM (SELECT c.id FROM claims c WHERE c.credited_at IS NULL $days_sql
     AND (hashtext(c.packet_id) & 2147483647) BETWEEN 0 AND 268435455
     AND NOT EXISTS (SELECT 1 FROM credit_failures f WHERE f.claim_id = c.id) AND c.amount_fen >= 5000
     ORDER BY c.amount_fen DESC, c.created_at, c.id LIMIT 500 FOR UPDATE OF c SKIP LOCKED) large
  UNION ALL
  SELECT * FROM (SELECT c.id FROM claims c WHERE c.credited_at IS NULL $days_sql
     AND (hashtext(c.packet_id) & 2147483647) BETWEEN 0 AND 268435455
     AND NOT EXISTS (SELECT 1 FROM credit_failures f WHERE f.claim_id = c.id) AND c.amount_fen < 5000
     ORDER BY c.created_at, c.id LIMIT 500 FOR UPDATE OF c SKIP LOCKED) rest) q;
ROLLBACK;
SQL
}
queue "" > "$tmp/queue_single.sql"
queue "AND (c.day BETWEEN (now() AT TIME ZONE 'UTC')::date - 9 AND (now() AT TIME ZONE 'UTC')::date + 1 OR c.day = date '1970-01-01')" > "$tmp/queue_part.sql"
# A first bills page of a recipient (ledger/reads.ts): 20 lines, newest first. chr(58) is ":", which pgbench
# would read as a variable inside the literal.
cat > "$tmp/bills_single.sql" <<'SQL'
\set u random(0, 999)
SELECT * FROM (
  (SELECT id, seq FROM transfers WHERE debit_account_id = 'wallet' || chr(58) || 'u' || :u::text ORDER BY seq DESC LIMIT 21)
  UNION ALL (SELECT id, seq FROM transfers WHERE credit_account_id = 'wallet' || chr(58) || 'u' || :u::text ORDER BY seq DESC LIMIT 21)
) l ORDER BY seq DESC LIMIT 21;
SQL
cat > "$tmp/bills_part.sql" <<'SQL'
\set u random(0, 999)
SELECT * FROM (
  (SELECT day, id, seq FROM transfers WHERE debit_account_id = 'wallet' || chr(58) || 'u' || :u::text ORDER BY day DESC, seq DESC LIMIT 21)
  UNION ALL (SELECT day, id, seq FROM transfers WHERE credit_account_id = 'wallet' || chr(58) || 'u' || :u::text
             ORDER BY day DESC, seq DESC LIMIT 21)
) l ORDER BY day DESC, seq DESC LIMIT 21;
SQL
bench() {
  local db=$1 script=$2 label=$3
  local out
  out=$(pgbench -n -M prepared -c 1 -T "$SECONDS_EACH" -f "$script" "$db" 2>&1)
  echo "$label: $(echo "$out" | grep -E 'latency average' | sed 's/.*= //') average, $(echo "$out" | grep -E '^tps' | sed 's/ (without.*//')"
}
bench daytables_single "$tmp/open.sql" 'open_share, single tables'
bench daytables_part "$tmp/open.sql" 'open_share, day partitions'
bench daytables_single "$tmp/queue_single.sql" 'pump queue read, single tables'
bench daytables_part "$tmp/queue_part.sql" 'pump queue read, day partitions'
bench daytables_single "$tmp/bills_single.sql" 'bills first page, single tables'
bench daytables_part "$tmp/bills_part.sql" 'bills first page, day partitions'
rm -rf "$tmp"
if [ "${KEEP:-}" != 1 ]; then for db in daytables_single daytables_part; do psql_q -c "DROP DATABASE $db"; done; fi
