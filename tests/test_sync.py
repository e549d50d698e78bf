"""Issue 15: a reception point runs on its own server and its records reach the center exactly once."""

from __future__ import annotations

from tests.sync_support import center_config, make_node, serve_citizens, staff_token, wait_synced


def test_a_node_serves_citizens_and_the_center_gets_every_record_once(tmp_path, make_server):
    center = make_server(config=center_config(tmp_path))
    node = make_node(tmp_path, center, "branch")
    staff = staff_token(node)
    ids = serve_citizens(node, "branch", "branch-1", "branch-kiosk-1", 4, staff)
    assert all(i >= 10**12 for i in ids)  # the node's own id block
    synced = wait_synced(node, center, ("branch",))
    assert len(synced["tickets"][1]) == 4
    assert len(synced["ratings"][1]) == 4
    assert len(synced["ticket_procedures"][1]) == 4


def test_the_centers_reports_of_a_nodes_site_equal_the_nodes_own(tmp_path, make_server):
    """The records are the node's rows themselves, so every grouping gives the same figures at both places."""
    from datetime import UTC, datetime, timedelta

    from tests.conftest import cli

    center = make_server(config=center_config(tmp_path))
    node = make_node(tmp_path, center, "branch")
    staff = staff_token(node)
    serve_citizens(node, "branch", "branch-1", "branch-kiosk-1", 3, staff)
    serve_citizens(node, "branch", "branch-2", "branch-kiosk-1", 2, staff, service="HT", procedure="HT-KS",
                   rate=False)
    wait_synced(node, center, ("branch",))
    manager_at_node = cli(node.db, "token", "create", "--user", "manager", "--config", str(node.config)
                          ).strip().splitlines()[-1]
    today = datetime.now(UTC) + timedelta(hours=7)
    for days in (0, 40):  # one day (raw rows) and a range long enough for the roll-up path
        start = (today - timedelta(days=days)).date().isoformat()
        for group in ("service", "procedure", "counter", "staff", "hour", "day"):
            query = {"site": "branch", "from": start, "to": today.date().isoformat(), "group": group}
            a = center.get("/manager/api/report", who="manager", params=query)
            b = node.get("/manager/api/report", who=None, params=query,
                         headers={"Authorization": f"Bearer {manager_at_node}"})
            assert a.status_code == b.status_code == 200, (a.text[:300], b.text[:300])
            ra, rb = a.json(), b.json()
            ra.pop("generated_at", None)
            rb.pop("generated_at", None)
            assert ra == rb, (days, group)
            assert ra["summary"]["issued"] == 5
