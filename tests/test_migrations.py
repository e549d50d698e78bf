"""Schema migrations on real SQLite files: a new file gets every version, an older file is brought forward on
open with its history intact."""

from __future__ import annotations

import sqlite3

from center import reports
from center.queue.engine import Engine
from center.storage.migrations import MIGRATIONS
from center.storage.store import Store
from tests.manager_support import DAY, build_fixed_day

# The indexes that only hold tickets having the value they order (migration 12): a ticket just issued writes
# none of them.
PARTIAL = {"tickets_wait_rank_all": "wait_s", "tickets_wait_rank": "wait_s", "tickets_wait_rank_service": "wait_s",
           "tickets_service_rank_all": "service_s", "tickets_service_rank": "service_s",
           "tickets_service_rank_service": "service_s", "tickets_recent_served": "ended_at",
           "tickets_counter": "counter_id"}


def _partial_indexes(path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[1] for r in conn.execute("PRAGMA index_list(tickets)") if r[4]}


def _report(store: Store, config) -> dict:
    with store.read() as conn:
        report = reports.report(conn, config, reports.Filters(DAY, DAY, site="main", group="service"))
    report.pop("generated_at")
    return report


def _undo_sync(conn) -> None:
    """Take away what migration 16 added (the sync outbox, its triggers and tables, the receiver's columns), and
    what came after it (17: voice packs; 18: bookings, the booking of a ticket and its indexes; 19: held rows, seen
    batches)."""
    for table in ("voice_clips", "voice_packs", "bookings", "sync_held", "sync_seen"):
        conn.execute(f"DROP TABLE {table}")
    for index in ("tickets_booked_waiting", "ticket_events_counter_calls"):
        conn.execute(f"DROP INDEX {index}")
    conn.execute("ALTER TABLE tickets DROP COLUMN booking")
    for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'sync_%'"
                                ).fetchall():
        conn.execute(f"DROP TRIGGER {name}")
    for table in ("sync_outbox", "sync_link", "sync_nodes", "sync_batches", "rollup_dirty"):
        conn.execute(f"DROP TABLE {table}")
    for table, column in (("tickets", "sync_ver"), ("tickets", "clock_offset_s"), ("ratings", "sync_ver"),
                          ("print_jobs", "sync_ver"), ("counter_state", "sync_ver")):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")


def test_a_new_database_has_every_migration(tmp_path):
    Store(tmp_path / "new.sqlite3").close()
    with sqlite3.connect(tmp_path / "new.sqlite3") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    assert _partial_indexes(tmp_path / "new.sqlite3") >= set(PARTIAL) | {"tickets_waiting_now"}


def test_a_version_11_database_moves_to_partial_indexes_with_its_history_and_reports_intact(
        tmp_path, demo_config, clock):
    path = tmp_path / "old.sqlite3"
    store = Store(path)
    build_fixed_day(Engine(store, demo_config, clock=clock, publish=lambda events: None), clock)
    before = _report(store, demo_config)
    store.close()
    # Put the file back at version 11: the eight indexes as they were, over every ticket.
    with sqlite3.connect(path) as conn:
        for name, column in PARTIAL.items():
            sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
            assert sql.endswith(f"WHERE {column} IS NOT NULL")
            conn.execute(f"DROP INDEX {name}")
            conn.execute(sql.rsplit(" WHERE ", 1)[0])
        # ...and without what later migrations added (13: session generations, sign-in limits).
        conn.execute("DROP TABLE login_limits")
        conn.execute("ALTER TABLE users DROP COLUMN session_gen")
        _undo_sync(conn)
        conn.execute("PRAGMA user_version = 11")
        tickets = conn.execute("SELECT count(*), count(wait_s), count(service_s) FROM tickets").fetchone()
    assert not _partial_indexes(path) & set(PARTIAL)
    assert tickets[0] > tickets[1] > 0  # some tickets were never called: the new indexes leave them out

    store = Store(path)  # opening migrates
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("SELECT count(*), count(wait_s), count(service_s) FROM tickets").fetchone() == tickets
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert _partial_indexes(path) >= set(PARTIAL)
    assert _report(store, demo_config) == before  # medians and p90s now walk the partial indexes
    store.close()


def test_a_version_12_database_gets_session_generations_and_sign_in_limits(tmp_path):
    path = tmp_path / "v12.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO users (username, display_name, role, password_hash, created_at) "
                     "VALUES ('a', 'A', 'staff', 'x', '2026-01-01T00:00:00Z')")
        conn.execute("DROP TABLE login_limits")
        conn.execute("ALTER TABLE users DROP COLUMN session_gen")
        _undo_sync(conn)
        conn.execute("PRAGMA user_version = 12")
    Store(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT username, session_gen FROM users").fetchall() == [("a", 0)]
        assert conn.execute("SELECT count(*) FROM login_limits").fetchone() == (0,)


def test_a_version_18_center_keeps_its_nodes_marks_and_gets_held_rows(tmp_path):
    """Migration 19 (issue 25) on a center that already takes a node's batches: its marks and records stay, the
    new tables and columns come empty."""
    from center.storage.migrations_sync_held import V19_SYNC_HELD

    path = tmp_path / "v18.sqlite3"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE sync_held")
        conn.execute("DROP TABLE sync_seen")
        for table, column in (("sync_nodes", "refused_at"), ("sync_nodes", "refused"), ("sync_link", "refused_at"),
                              ("sync_link", "refused"), ("sync_link", "bundle_to"), ("sync_link", "bundle_at")):
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        conn.execute("INSERT INTO sync_nodes (node, hwm, records) VALUES ('branch', 41, 40)")
        conn.execute(f"PRAGMA user_version = {MIGRATIONS.index(V19_SYNC_HELD)}")
    Store(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert conn.execute("SELECT hwm, records, refused FROM sync_nodes").fetchone() == (41, 40, None)
        assert conn.execute("SELECT count(*) FROM sync_held").fetchone()[0] == 0
