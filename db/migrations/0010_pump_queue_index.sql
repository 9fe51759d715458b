-- The pump's queue as top-N reads through indexes (docs/credit-pump.md, issue 24). A batch takes the large
-- claims of its shard first, then the oldest; since the large-claim threshold and the shard count are
-- runtime settings, neither is in an index key. Large claims are read through this index from the largest
-- amount down (a range `amount_fen >= threshold`, no sort), the rest through claims_credit_queue
-- (created_at, id) from 0007; the shard is a filter on both, so a batch reads about batch x shards entries
-- whatever the backlog. IF NOT EXISTS: on a large claims table an operator builds it first with
-- CREATE INDEX CONCURRENTLY (docs/operations.md), since building it here blocks opens and may outlast the
-- statement timeout.
CREATE INDEX IF NOT EXISTS claims_credit_queue_amount ON claims (amount_fen DESC, created_at, id) WHERE credited_at IS NULL;

-- Set-aside claims are retried apart from the batch, the ones due first.
CREATE INDEX IF NOT EXISTS credit_failures_retry ON credit_failures (retry_at);

-- A shard is a range of the packet id's hash (packets/store/credits.ts): these statistics let the planner
-- see that a shard holds 1/n of the backlog, not the default guess of a fraction of a percent, which made
-- it sort the large claims instead of walking the index above.
CREATE STATISTICS claims_shard_hash ON ((hashtext(packet_id) & 2147483647)) FROM claims;
