-- The drain switch of a cell (docs/failover.md "Draining a cell", issue 28). While a cell is drained it
-- refuses new sends by its home users (503 region_unavailable with Retry-After); grabs and opens of its
-- existing packets go on. One row per cell holds the switch as it is now; every change is also appended to
-- cell_drain_log, never updated or deleted, so who drained or undrained a cell, when and why stays known.

CREATE TABLE cell_drain (
  cell        text PRIMARY KEY,
  drained     boolean NOT NULL,
  reason      text,
  changed_by  text NOT NULL,
  changed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE TABLE cell_drain_log (
  seq         bigserial PRIMARY KEY,
  cell        text NOT NULL,
  drained     boolean NOT NULL,
  reason      text,
  changed_by  text NOT NULL,
  changed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX cell_drain_log_by_cell ON cell_drain_log (cell, seq DESC);
