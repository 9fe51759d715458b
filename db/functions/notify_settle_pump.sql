-- Wakes the settle pumps (docs/cells.md) when a cross-cell credit commits its outbox row. The channel carries
-- the schema, as notify_credit_pump's does, and the payload is the home cell, so each cell's pump wakes only
-- for its own direction. Only a wake-up: the pumps also poll.
CREATE OR REPLACE FUNCTION notify_settle_pump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('xcredit_outbox_' || TG_TABLE_SCHEMA, NEW.home_cell);
  RETURN NULL;
END;
$$;
