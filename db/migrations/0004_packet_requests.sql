-- The packet id a sender's Idempotency-Key was given. A retry after a crash (before the response was stored)
-- finds the same id, so it reaches the same workflow (Update-with-Start, USE_EXISTING) and can never pay twice.
CREATE TABLE packet_requests (
  sender_id       text NOT NULL,
  idempotency_key text NOT NULL,
  packet_id       text NOT NULL UNIQUE,
  created_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (sender_id, idempotency_key)
);
