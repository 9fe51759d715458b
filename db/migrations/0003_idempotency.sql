-- Idempotency keys (Stripe semantics), scoped per user: the first response to a POST is stored and replayed
-- byte for byte. A row is 'in_flight' while its first request runs; a process that dies mid-request leaves a
-- lease (locked_until) that lapses, so the key is not blocked until it expires. Rows past expires_at count as
-- absent and are purged lazily by the API.

CREATE TABLE idempotency_keys (
  user_id          text NOT NULL,
  key              text NOT NULL,
  -- sha256 of method, path and canonical JSON body: the same key with another request is refused.
  request_hash     text NOT NULL,
  state            text NOT NULL CHECK (state IN ('in_flight', 'done')),
  -- Random per attempt, so a request whose lease lapsed cannot complete or release its successor's row.
  owner_token      text NOT NULL,
  locked_until     timestamptz,
  response_status  int,
  response_headers jsonb,
  response_body    bytea,
  created_at       timestamptz NOT NULL DEFAULT now(),
  expires_at       timestamptz NOT NULL,
  PRIMARY KEY (user_id, key),
  CONSTRAINT idempotency_keys_done_has_response
    CHECK (state = 'in_flight' OR (response_status IS NOT NULL AND response_body IS NOT NULL))
);

CREATE INDEX idempotency_keys_expires ON idempotency_keys (expires_at);
