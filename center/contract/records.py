"""The records that flow upward (node → center → province hub), as both ends must read them: which tables, each
one's key, which change after they are made, the order a receiver applies them in, and what every receiver keeps
for itself. center/storage/outbox.py (the center and its nodes) and center/hub/ (PostgreSQL) both read this;
tests/test_contract.py checks that the hub's columns are the center's, table by table.

The migrations keep their own frozen copy of what they created (a shipped migration never changes)."""

from __future__ import annotations

# every synced table -> its key
SYNCED: dict[str, str] = {"tickets": "id", "ticket_events": "id", "ticket_procedures": "id", "ratings": "ticket_id",
                          "counter_events": "id", "print_jobs": "id", "audit_log": "id", "counter_state": "counter_id",
                          "bookings": "code"}
# the synced tables whose rows change after they are made: a copy replaces another only from a later snapshot
MUTABLE: tuple[str, ...] = ("tickets", "ratings", "print_jobs", "counter_state", "bookings")
# applied in this order: tickets before what refers to them (references inside one batch are deferred too)
ORDER: tuple[str, ...] = ("tickets", "bookings", "ticket_events", "ticket_procedures", "ratings", "counter_events",
                          "counter_state", "print_jobs", "audit_log")
# tables whose ids a node takes from its own block (counter_state, ratings and bookings are keyed otherwise)
ID_TABLES: tuple[str, ...] = ("tickets", "ticket_events", "ticket_procedures", "counter_events", "print_jobs",
                              "audit_log")
# tables whose every row names its site: a receiver checks it is the sender's
SITE_TABLES: tuple[str, ...] = ("tickets", "ticket_events", "ticket_procedures", "ratings", "counter_events",
                                "counter_state", "bookings")
# a receiver's own bookkeeping columns, never sent
LOCAL_COLUMNS: frozenset[str] = frozenset({"sync_ver", "clock_offset_s"})

assert set(ORDER) == set(SYNCED) and set(MUTABLE) <= set(SYNCED) and set(ID_TABLES) <= set(SYNCED)
