-- Double-entry ledger. Transfers are immutable and keyed by a deterministic id that is their idempotency key
-- (deposit:<key>, pay:<packetId>, credit:<claimId>, refund:<packetId>). Balances are maintained in the same
-- transaction as the transfer that moves them; the audit recomputes them from transfers.

CREATE TABLE accounts (
  id          text PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('wallet', 'escrow', 'external')),
  -- The user id of a wallet, the packet id of an escrow, null for the external funding account.
  owner_id    text,
  balance_fen bigint NOT NULL DEFAULT 0,
  created_at  timestamptz NOT NULL DEFAULT now(),
  -- Wallets and escrows never go negative; only the external funding account (money entering the system) may.
  CONSTRAINT accounts_non_negative CHECK (kind = 'external' OR balance_fen >= 0),
  CONSTRAINT accounts_owner CHECK ((kind = 'external') = (owner_id IS NULL))
);

CREATE TABLE transfers (
  id                text PRIMARY KEY,
  -- Keyset order for bills: a monotonic sequence, not the clock, so pages never skip or repeat a line.
  seq               bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  debit_account_id  text NOT NULL REFERENCES accounts (id),
  credit_account_id text NOT NULL REFERENCES accounts (id),
  amount_fen        bigint NOT NULL CHECK (amount_fen > 0),
  kind              text NOT NULL CHECK (kind IN ('deposit', 'pay', 'credit', 'refund')),
  packet_id         text,
  claim_id          text,
  created_at        timestamptz NOT NULL DEFAULT clock_timestamp(),
  CONSTRAINT transfers_distinct_accounts CHECK (debit_account_id <> credit_account_id)
);

CREATE INDEX transfers_debit_seq ON transfers (debit_account_id, seq DESC);
CREATE INDEX transfers_credit_seq ON transfers (credit_account_id, seq DESC);
CREATE INDEX transfers_packet ON transfers (packet_id) WHERE packet_id IS NOT NULL;

INSERT INTO accounts (id, kind, owner_id) VALUES ('external:funding', 'external', NULL);
