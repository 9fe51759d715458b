-- Day tables (docs/day-tables.md, issue 30). packets, claims and transfers become range-partitioned by the
-- packet's day, read off the id (day_of_id, transfer_day). Each gains a `day` column, its keys begin with
-- it, and a CHECK ties it to the id: since the day is a function of the id, (day, id) unique is id unique,
-- so every idempotency key and uniqueness rule holds exactly as before. There is no default partition:
-- ensure_day_partitions creates days ahead, run here for the days present and the coming week, and then
-- by the upkeep schedule.
--
-- In place: the rows move into the new tables inside this migration's transaction, which holds the tables
-- for the time of one copy (about a second per million transfers here); run it in a quiet window.

-- First versions of the day functions (db/functions/*.sql hold their current text), which the CHECKs use.
CREATE OR REPLACE FUNCTION day_of_id(id text)
RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN id ~ '^[12][0-9]{3}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])'
      THEN make_date(substr(id, 1, 4)::int, substr(id, 5, 2)::int, 1) + (substr(id, 7, 2)::int - 1)
    ELSE date '1970-01-01'
  END
$$;

CREATE OR REPLACE FUNCTION transfer_day(id text)
RETURNS date LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT day_of_id(substr(id, strpos(id, ':') + 1))
$$;

-- The old tables step aside; their data is copied below and they are dropped at the end.
ALTER TABLE transfers RENAME TO transfers_0016;
ALTER TABLE claims RENAME TO claims_0016;
ALTER TABLE packets RENAME TO packets_0016;

CREATE TABLE packets (
  day             date NOT NULL,
  id              text NOT NULL,
  sender_id       text NOT NULL,
  type            text NOT NULL,
  total_fen       bigint NOT NULL,
  share_count     int NOT NULL,
  remaining_fen   bigint NOT NULL,
  remaining_count int NOT NULL,
  greeting        text,
  recipient_id    text,
  audience        text[],
  status          text NOT NULL DEFAULT 'open',
  expires_at      timestamptz NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  closed_at       timestamptz,
  refund_fen      bigint
) PARTITION BY RANGE (day);

CREATE TABLE claims (
  day         date NOT NULL,
  id          text NOT NULL,
  packet_id   text NOT NULL,
  user_id     text NOT NULL,
  seq         int NOT NULL,
  amount_fen  bigint NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  credited_at timestamptz
) PARTITION BY RANGE (day);

CREATE TABLE transfers (
  day               date NOT NULL,
  id                text NOT NULL,
  seq               bigint GENERATED ALWAYS AS IDENTITY,
  debit_account_id  text NOT NULL,
  credit_account_id text NOT NULL,
  amount_fen        bigint NOT NULL,
  kind              text NOT NULL,
  packet_id         text,
  claim_id          text,
  created_at        timestamptz NOT NULL DEFAULT clock_timestamp()
) PARTITION BY RANGE (day);

-- Ids without a dated prefix (day_of_id) live in one legacy partition below every real day.
CREATE TABLE packets_legacy PARTITION OF packets FOR VALUES FROM (MINVALUE) TO ('1970-01-02');
CREATE TABLE claims_legacy PARTITION OF claims FOR VALUES FROM (MINVALUE) TO ('1970-01-02');
CREATE TABLE transfers_legacy PARTITION OF transfers FOR VALUES FROM (MINVALUE) TO ('1970-01-02');

CREATE OR REPLACE FUNCTION ensure_day_partitions(p_first date, p_last date)
RETURNS int LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  d date;
  parent text;
  part text;
  created int := 0;
BEGIN
  d := p_first;
  WHILE d <= p_last LOOP
    FOREACH parent IN ARRAY ARRAY['packets', 'claims', 'transfers'] LOOP
      part := parent || '_' || to_char(d, 'YYYYMMDD');
      IF to_regclass(quote_ident(current_schema()) || '.' || quote_ident(part)) IS NULL THEN
        EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES FROM (%L) TO (%L)', part, parent, d, d + 1);
        IF parent = 'claims' THEN
          EXECUTE format('CREATE STATISTICS %I ON ((hashtext(packet_id) & 2147483647)) FROM %I',
            part || '_shard_hash', part);
        END IF;
        created := created + 1;
      END IF;
    END LOOP;
    d := d + 1;
  END LOOP;
  RETURN created;
END
$$;

-- A partition for every day the old rows hold, and for the UTC days around now (ids carry the UTC day).
SELECT ensure_day_partitions(d::date, d::date)
  FROM (SELECT DISTINCT day_of_id(id) AS d FROM packets_0016
        UNION SELECT DISTINCT transfer_day(id) FROM transfers_0016) AS days
 WHERE d > date '1970-01-01';
SELECT ensure_day_partitions((now() AT TIME ZONE 'UTC')::date - 1, (now() AT TIME ZONE 'UTC')::date + 7);

INSERT INTO packets
SELECT day_of_id(id), id, sender_id, type, total_fen, share_count, remaining_fen, remaining_count, greeting,
       recipient_id, audience, status, expires_at, created_at, closed_at, refund_fen
  FROM packets_0016;
INSERT INTO claims
SELECT day_of_id(packet_id), id, packet_id, user_id, seq, amount_fen, created_at, credited_at FROM claims_0016;
INSERT INTO transfers OVERRIDING SYSTEM VALUE
SELECT transfer_day(id), id, seq, debit_account_id, credit_account_id, amount_fen, kind, packet_id, claim_id,
       created_at
  FROM transfers_0016;
SELECT setval(pg_get_serial_sequence('transfers', 'seq'), coalesce(max(seq), 0) + 1, false) FROM transfers_0016;

-- apply_transfers returns the old table's row type; it is created again from db/functions after this
-- migration (its file changed), and forgetting its checksum makes sure of that.
DROP FUNCTION IF EXISTS apply_transfers(text[], text[], text[], bigint[], text[], text[], text[]);
DO $$
BEGIN
  IF to_regclass('schema_functions') IS NOT NULL THEN
    DELETE FROM schema_functions WHERE name = 'apply_transfers';
  END IF;
END
$$;
DROP TABLE transfers_0016;
DROP TABLE claims_0016;
DROP TABLE packets_0016;

-- The rules of 0001, 0002 and 0014, unchanged, and the day tied to the id.
ALTER TABLE packets
  ADD CONSTRAINT packets_pkey PRIMARY KEY (day, id),
  ADD CONSTRAINT packets_day CHECK (day = day_of_id(id)),
  ADD CONSTRAINT packets_type_check CHECK (type IN ('random', 'fixed', 'personal')),
  ADD CONSTRAINT packets_total_fen_check CHECK (total_fen > 0),
  ADD CONSTRAINT packets_share_count_check CHECK (share_count > 0),
  ADD CONSTRAINT packets_status_check CHECK (status IN ('open', 'closed', 'finished')),
  ADD CONSTRAINT packets_remaining_count CHECK (remaining_count BETWEEN 0 AND share_count),
  ADD CONSTRAINT packets_remaining_fen CHECK (remaining_fen >= remaining_count AND remaining_fen <= total_fen),
  ADD CONSTRAINT packets_at_least_one_fen_each CHECK (total_fen >= share_count),
  ADD CONSTRAINT packets_personal_recipient CHECK ((type = 'personal') = (recipient_id IS NOT NULL));

ALTER TABLE claims
  ADD CONSTRAINT claims_pkey PRIMARY KEY (day, id),
  -- A claim lives in its packet's day, and its id (`<packetId>-<seq>`) begins with the packet id.
  ADD CONSTRAINT claims_day CHECK (day = day_of_id(packet_id) AND day = day_of_id(id)),
  ADD CONSTRAINT claims_packet_id_fkey FOREIGN KEY (day, packet_id) REFERENCES packets (day, id),
  ADD CONSTRAINT claims_seq_check CHECK (seq > 0),
  ADD CONSTRAINT claims_amount_fen_check CHECK (amount_fen > 0),
  ADD CONSTRAINT claims_one_per_user UNIQUE (day, packet_id, user_id),
  ADD CONSTRAINT claims_one_per_seq UNIQUE (day, packet_id, seq);

ALTER TABLE transfers
  ADD CONSTRAINT transfers_pkey PRIMARY KEY (day, id),
  ADD CONSTRAINT transfers_day CHECK (day = transfer_day(id)),
  -- seq comes from one identity sequence, so it stays unique across days as well.
  ADD CONSTRAINT transfers_seq_key UNIQUE (day, seq),
  ADD CONSTRAINT transfers_debit_account_id_fkey FOREIGN KEY (debit_account_id) REFERENCES accounts (id),
  ADD CONSTRAINT transfers_credit_account_id_fkey FOREIGN KEY (credit_account_id) REFERENCES accounts (id),
  ADD CONSTRAINT transfers_amount_fen_check CHECK (amount_fen > 0),
  ADD CONSTRAINT transfers_kind_check CHECK (kind IN ('deposit', 'pay', 'credit', 'refund', 'xcredit')),
  ADD CONSTRAINT transfers_distinct_accounts CHECK (debit_account_id <> credit_account_id);

-- The indexes of 0001, 0002, 0007, 0010, 0011 and 0013, now one per partition. Bills read an account's
-- lines by (day, seq) newest first, so a page is an ordered walk of the newest days' partitions.
CREATE INDEX transfers_debit_seq ON transfers (debit_account_id, day DESC, seq DESC);
CREATE INDEX transfers_credit_seq ON transfers (credit_account_id, day DESC, seq DESC);
CREATE INDEX transfers_packet ON transfers (packet_id) WHERE packet_id IS NOT NULL;
-- The reconciler's watermark reads transfers past a seq.
CREATE INDEX transfers_seq ON transfers (seq);
CREATE INDEX packets_sender ON packets (sender_id, created_at DESC, id DESC);
CREATE INDEX packets_awaiting_credit ON packets (id)
  WHERE status = 'closed' OR (status = 'open' AND remaining_count = 0);
CREATE INDEX packets_open ON packets (id) WHERE status = 'open';
CREATE INDEX claims_uncredited ON claims (packet_id, seq) WHERE credited_at IS NULL;
CREATE INDEX claims_user ON claims (user_id, created_at DESC, id DESC);
CREATE INDEX claims_credit_queue ON claims (created_at, id) WHERE credited_at IS NULL;
CREATE INDEX claims_credit_queue_amount ON claims (amount_fen DESC, created_at, id) WHERE credited_at IS NULL;
-- 0010's statistics, for the whole table and (as ensure_day_partitions makes them for each day) per partition,
-- since a partition's scan is estimated from its own.
CREATE STATISTICS claims_shard_hash ON ((hashtext(packet_id) & 2147483647)) FROM claims;
CREATE STATISTICS claims_legacy_shard_hash ON ((hashtext(packet_id) & 2147483647)) FROM claims_legacy;

CREATE TRIGGER claims_notify_credit_pump AFTER INSERT ON claims
  FOR EACH ROW EXECUTE FUNCTION notify_credit_pump();

-- Deposits (ledger/deposits.ts): a deposit's transfer id now carries the day it was first asked for,
-- `deposit:<yyyymmdd>:<key>`, so it lands in that day's partition. The caller's key stays the idempotency key
-- for ever: this small table maps each key to its transfer id, so the same key on a later day finds the
-- first deposit instead of making a second. Deposits made before keep their ids.
CREATE TABLE deposit_keys (
  key         text PRIMARY KEY,
  transfer_id text NOT NULL UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO deposit_keys (key, transfer_id)
SELECT substr(id, length('deposit:') + 1), id FROM transfers WHERE kind = 'deposit' AND id LIKE 'deposit:%';
