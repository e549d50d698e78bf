"""Migration 18: bookings (issue 17), kept apart because center/storage/migrations.py is at its size limit.

A booking is a time slot a citizen reserved on the province hub's page (it flows down with the sync
protocol) or at the center's desk; checking in at the kiosk makes its ticket (`tickets.booking`). The table
is synced both ways, keyed by its code, and mutable (cancelled, checked in, no-show): the names outbox.py
and the hub use for the synced tables are extended here, in one place, since migrations.py cannot grow.
"""

V18_BOOKINGS = """
CREATE TABLE bookings (
  code TEXT PRIMARY KEY,          -- 6 chars from "ABCDEFGHJKMNPQRSTUVWXYZ23456789" (no 0/O, 1/I/L): easy to read aloud
  site TEXT NOT NULL, service TEXT NOT NULL,
  service_day TEXT NOT NULL,      -- local date of the slot
  slot_at TEXT NOT NULL,          -- slot start, UTC ISO 8601 with Z (like every stored time)
  slot_min INTEGER NOT NULL,
  name TEXT,                      -- optional, as given, shown to the desk (100 chars max, clean_text)
  phone_hash TEXT,                -- sha256 hex of the normalised phone with the hub's pepper; never the phone
  origin TEXT NOT NULL CHECK (origin IN ('hub','desk','api')),
  status TEXT NOT NULL CHECK (status IN ('booked','cancelled','checked_in','no_show')),
  ticket_id INTEGER REFERENCES tickets(id),
  late INTEGER NOT NULL DEFAULT 0, -- checked in after the grace: joined as a walk-in
  created_at TEXT NOT NULL, updated_at TEXT NOT NULL, cancelled_at TEXT, checked_in_at TEXT,
  sync_ver INTEGER
);
CREATE INDEX bookings_slot ON bookings (site, service_day, status);
ALTER TABLE tickets ADD COLUMN booking TEXT;   -- the booking code of a booked ticket, NULL for walk-ins
ALTER TABLE sync_link ADD COLUMN bookings_mark INTEGER NOT NULL DEFAULT 0;  -- the hub's booking version last received
-- The calling order's fair merge (center/queue/policy.py) looks at the booked tickets waiting (few) and at each
-- counter's last calls: both read from these small indexes, never by scanning the day.
CREATE INDEX tickets_booked_waiting ON tickets (site, service_day, service) WHERE booking IS NOT NULL
  AND status = 'waiting';
CREATE INDEX ticket_events_counter_calls ON ticket_events (counter_id, id) WHERE kind = 'called';
CREATE TRIGGER sync_bookings_insert AFTER INSERT ON bookings WHEN EXISTS (SELECT 1 FROM sync_link) BEGIN
  INSERT INTO sync_outbox (tbl, key) VALUES ('bookings', NEW.code); END;
CREATE TRIGGER sync_bookings_update AFTER UPDATE ON bookings WHEN EXISTS (SELECT 1 FROM sync_link) BEGIN
  INSERT INTO sync_outbox (tbl, key) VALUES ('bookings', NEW.code); END;
"""

# After the migration's text: migrations.py imports this module (through migrations_later) while it loads.
from .migrations import MUTABLE, SYNCED_KEYS  # noqa: E402

SYNCED = {**SYNCED_KEYS, "bookings": "code"}  # every synced table -> its key (outbox.py, the hub)
MUTABLE_ALL = (*MUTABLE, "bookings")  # the synced tables whose rows change after they are made
