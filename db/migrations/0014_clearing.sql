-- Clearing between cells (docs/cells.md, issue 27). A claim whose recipient is homed in another cell is
-- credited in the packet's cell from the packet's escrow into a clearing account of that other cell
-- (credit:<claimId>, clearing:<homeCell>:<lane>), and an outbox row carries it to the home cell, which posts
-- xcredit:<claimId> from its own clearing:<packetCell>:<lane> into the wallet. One clearing account per
-- direction and lane, so no single row is hot. The receiving side's clearing account goes negative by what it
-- paid out; the sending side's holds what it owes. Wallets and escrows keep their non-negative rule.

ALTER TABLE accounts DROP CONSTRAINT accounts_kind_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_kind_check
  CHECK (kind IN ('wallet', 'escrow', 'external', 'clearing'));
ALTER TABLE accounts DROP CONSTRAINT accounts_non_negative;
ALTER TABLE accounts ADD CONSTRAINT accounts_non_negative
  CHECK (kind IN ('external', 'clearing') OR balance_fen >= 0);

ALTER TABLE transfers DROP CONSTRAINT transfers_kind_check;
ALTER TABLE transfers ADD CONSTRAINT transfers_kind_check
  CHECK (kind IN ('deposit', 'pay', 'credit', 'refund', 'xcredit'));

-- The outbox of cross-cell credits, written in the transaction that posts credit:<claimId> into clearing.
-- delivered_at: when the home cell acknowledged it. refused_at / last_error: the home cell refused the item
-- (a conflicting xcredit of the same claim, a user not homed there); it is parked, not resent, and shows in
-- the settle pump's stuck flag and in the pair audit until an operator resolves it. attempts / retry_at: the
-- item alone failed at the home cell (its batch failed, the others went through alone); it is retried with
-- a backoff, apart from the batches, so it never holds them up.
CREATE TABLE xcredit_outbox (
  claim_id            text PRIMARY KEY,
  packet_id           text NOT NULL,
  user_id             text NOT NULL,
  home_cell           text NOT NULL,
  lane                int NOT NULL CHECK (lane >= 0),
  clearing_account_id text NOT NULL,
  amount_fen          bigint NOT NULL CHECK (amount_fen > 0),
  created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  delivered_at        timestamptz,
  refused_at          timestamptz,
  attempts            int NOT NULL DEFAULT 0,
  retry_at            timestamptz,
  last_error          text,
  CONSTRAINT xcredit_outbox_clearing CHECK (clearing_account_id = 'clearing:' || home_cell || ':' || lane)
);

-- The settle pump's batch read: a home cell's undelivered, unparked rows, oldest first.
CREATE INDEX xcredit_outbox_queue ON xcredit_outbox (home_cell, created_at, claim_id)
  WHERE delivered_at IS NULL AND refused_at IS NULL;
-- A user's incoming cross-cell credits not yet delivered (the home cell's balance asks for them).
CREATE INDEX xcredit_outbox_user ON xcredit_outbox (user_id) WHERE delivered_at IS NULL;

-- Wakes the settle pump of the row's home cell when a cross-cell credit commits; the pump also polls.
CREATE FUNCTION notify_settle_pump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('xcredit_outbox_' || TG_TABLE_SCHEMA, NEW.home_cell);
  RETURN NULL;
END;
$$;

CREATE TRIGGER xcredit_outbox_notify AFTER INSERT ON xcredit_outbox
  FOR EACH ROW EXECUTE FUNCTION notify_settle_pump();
