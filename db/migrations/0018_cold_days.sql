-- Cold days (docs/day-tables.md, "Cold days"; issue 30). A settled day past the hot window leaves the live
-- tables: its partitions of packets, claims and transfers are detached and kept in the archive schema, and
-- what the day did to each account stays here as a snapshot, so a balance is still the sum of its movements:
-- the snapshots of the cold days plus the transfers of the live ones (the audit's balance_equals_transfers).

-- One row per cold day, written in the same transaction as the day's snapshot. From its commit on, the day's
-- rows count through the snapshot and no longer through the live tables (the live_* views below), whether or
-- not its partitions have left yet: 'cold' means the snapshot is taken and the partitions may still be
-- attached; 'archived' means they are detached, in the archive schema, and checked against these figures.
CREATE TABLE cold_days (
  day            date PRIMARY KEY CHECK (day > date '1970-01-01'),
  state          text NOT NULL CHECK (state IN ('cold', 'archived')),
  packet_count   bigint NOT NULL CHECK (packet_count >= 0),
  claim_count    bigint NOT NULL CHECK (claim_count >= 0),
  transfer_count bigint NOT NULL CHECK (transfer_count >= 0),
  -- The sum of the day's transfer amounts, a second figure the archived rows must match.
  transfers_fen  bigint NOT NULL CHECK (transfers_fen >= 0),
  cold_at        timestamptz NOT NULL DEFAULT now(),
  archived_at    timestamptz,
  -- Where the day's three tables are kept once archived (schema, and tablespace when one was configured).
  archive_schema text,
  archive_tablespace text,
  CHECK ((state = 'archived') = (archived_at IS NOT NULL AND archive_schema IS NOT NULL))
);

-- What a cold day moved in and out of each account it touched. Keyed by account first: the audit sums an
-- account's snapshots, and bills ask whether an account has archived days.
CREATE TABLE day_snapshots (
  account_id     text NOT NULL REFERENCES accounts (id),
  day            date NOT NULL REFERENCES cold_days (day),
  credited_fen   bigint NOT NULL CHECK (credited_fen >= 0),
  debited_fen    bigint NOT NULL CHECK (debited_fen >= 0),
  transfer_count bigint NOT NULL CHECK (transfer_count > 0),
  PRIMARY KEY (account_id, day)
);

-- The live rows: what the audit reads. A cold day's rows may sit in an attached partition for a while (its
-- detach is a separate step that can be interrupted), and they must not count twice, through the snapshot
-- and through the table. cold_days holds a row per day archived (a few hundred), so the filter is one
-- hashed lookup per row.
CREATE VIEW live_packets AS SELECT * FROM packets WHERE day NOT IN (SELECT day FROM cold_days);
CREATE VIEW live_claims AS SELECT * FROM claims WHERE day NOT IN (SELECT day FROM cold_days);
CREATE VIEW live_transfers AS SELECT * FROM transfers WHERE day NOT IN (SELECT day FROM cold_days);
