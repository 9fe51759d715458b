-- The reconciler (docs/reconciliation.md): one row of state shared by every worker and kept across Temporal
-- restarts. transfer_seq and claims_after are the watermark: transfers with a larger seq, and uncredited
-- claims created after claims_after, are what the next run audits. carried_scope holds the scope of runs that
-- found violations, audited again every run until it comes back clean, so a violation stays reported while
-- it lasts instead of passing with the watermark. gate_cursor is where the next run's look at open packets'
-- gates starts. report is the last run's report, for any process to read with one primary-key lookup.
CREATE TABLE reconcile_state (
  id            boolean PRIMARY KEY DEFAULT true CHECK (id),
  transfer_seq  bigint NOT NULL DEFAULT 0,
  claims_after  timestamptz NOT NULL DEFAULT '-infinity',
  carried_scope jsonb,
  gate_cursor   text NOT NULL DEFAULT '',
  report        jsonb,
  reported_at   timestamptz
);

INSERT INTO reconcile_state DEFAULT VALUES;

-- Open packets, for the gate check's bounded walk (and the expired-open-packet look) without a scan of all
-- packets; a packet leaves the index when settlement closes it.
CREATE INDEX packets_open ON packets (id) WHERE status = 'open';
