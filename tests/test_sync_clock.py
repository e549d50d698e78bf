"""Issue 15: a laptop's clock can be hours off. The node is compared with its center at every contact, its
records are flagged at the center and can be corrected, and no citizen is refused because of it."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from tests.conftest import cli
from tests.sync_support import center_config, make_node, serve_citizens, staff_token, wait_synced

AHEAD = timedelta(hours=3)


def test_a_node_three_hours_ahead_is_flagged_at_the_center_and_its_records_can_be_corrected(tmp_path, make_server):
    center = make_server(config=center_config(tmp_path))
    wrong = (datetime.now(UTC) + AHEAD).replace(tzinfo=None).isoformat(timespec="seconds")
    node = make_node(tmp_path, center, "mobile1", extra=("--simulate-from", wrong))
    staff = staff_token(node)
    ids = serve_citizens(node, "luudong1", "ld1-1", "ld1-kiosk", 2, staff)  # served, never refused
    wait_synced(node, center, ("luudong1",))

    with sqlite3.connect(center.db) as conn:
        offset = conn.execute("SELECT clock_offset_s FROM sync_nodes WHERE node = 'mobile1'").fetchone()[0]
        flags = conn.execute("SELECT clock_offset_s FROM tickets WHERE id IN (?, ?)", ids).fetchall()
        issued = conn.execute("SELECT issued_at FROM tickets WHERE id = ?", (ids[0],)).fetchone()[0]
    assert abs(offset - AHEAD.total_seconds()) < 120, offset
    assert all(f[0] is not None and abs(f[0] - AHEAD.total_seconds()) < 120 for f in flags), flags
    assert "clock" in cli(center.db, "node", "list", "--config", str(center.config))

    node.stop()  # the team is back; the center corrects what the wrong clock wrote
    out = cli(center.db, "sync", "fix-clock", "mobile1", "--config", str(center.config))
    assert "2 ticket(s) corrected" in out, out
    with sqlite3.connect(center.db) as conn:
        fixed = conn.execute("SELECT issued_at, clock_offset_s FROM tickets WHERE id = ?", (ids[0],)).fetchone()
        events = conn.execute("SELECT min(at) FROM ticket_events WHERE ticket_id = ?", (ids[0],)).fetchone()[0]
    moved = datetime.fromisoformat(issued.replace("Z", "+00:00")) - datetime.fromisoformat(
        fixed[0].replace("Z", "+00:00"))
    assert abs(moved.total_seconds() - offset) < 1 and fixed[1] == 0
    assert abs((datetime.fromisoformat(events.replace("Z", "+00:00")) - datetime.now(UTC)).total_seconds()) < 600
