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
