-- Packets and their claims. A packet row exists only once its payment committed (unpaid orders never reach
-- this table); a claim is uncredited until its credit:<claimId> transfer exists, and credited_at mirrors that
-- transfer in the same transaction so the credit sweep can use a partial index.

-- Fallback for packet id pre-allocation while Redis is down.
CREATE SEQUENCE packet_id_seq;

CREATE TABLE packets (
  id              text PRIMARY KEY,
  sender_id       text NOT NULL,
  type            text NOT NULL CHECK (type IN ('random', 'fixed', 'personal')),
  total_fen       bigint NOT NULL CHECK (total_fen > 0),
  share_count     int NOT NULL CHECK (share_count > 0),
  remaining_fen   bigint NOT NULL,
  remaining_count int NOT NULL,
  greeting        text,
  recipient_id    text,
  audience        text[],
  status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed', 'finished')),
  expires_at      timestamptz NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  closed_at       timestamptz,
  refund_fen      bigint,
  CONSTRAINT packets_remaining_count CHECK (remaining_count BETWEEN 0 AND share_count),
  -- Every unclaimed share keeps at least one fen.
  CONSTRAINT packets_remaining_fen CHECK (remaining_fen >= remaining_count AND remaining_fen <= total_fen),
  CONSTRAINT packets_at_least_one_fen_each CHECK (total_fen >= share_count),
  CONSTRAINT packets_personal_recipient CHECK ((type = 'personal') = (recipient_id IS NOT NULL))
);

CREATE INDEX packets_sender ON packets (sender_id, created_at DESC, id DESC);

CREATE TABLE claims (
  id          text PRIMARY KEY,
  packet_id   text NOT NULL REFERENCES packets (id),
  user_id     text NOT NULL,
  -- 1 for the first share opened, share_count for the last.
  seq         int NOT NULL CHECK (seq > 0),
  amount_fen  bigint NOT NULL CHECK (amount_fen > 0),
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  credited_at timestamptz,
  CONSTRAINT claims_one_per_user UNIQUE (packet_id, user_id),
  CONSTRAINT claims_one_per_seq UNIQUE (packet_id, seq)
);

CREATE INDEX claims_uncredited ON claims (packet_id, seq) WHERE credited_at IS NULL;
CREATE INDEX claims_user ON claims (user_id, created_at DESC, id DESC);
