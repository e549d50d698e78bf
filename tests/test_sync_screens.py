"""Issue 15, the people-facing part, in this process: the center's "Places" JSON and the nodes' alerts on the
overview, a node's link status for its staff screens, and the report's count of tickets from a node whose clock
was off. Roles and JSON errors of the two new routes too (docs/security.md lists them)."""

from __future__ import annotations

import shutil
from datetime import timedelta

import pytest

from center.queue.clock import to_iso
from tests.conftest import DEMO_CONFIG, WebClient
from tests.sync_support import NODES_TOML, node_config

DAY = "2026-11-23"  # the FakeClock's Monday, 09:00 local


def _app(tmp_path, accounts_template, clock, config_path, db):
    from center.app import create_app

    shutil.copyfile(accounts_template[0], db)
    return create_app(str(config_path), str(db), clock=clock, housekeeping=False)


@pytest.fixture
def center_web(tmp_path, accounts_template, clock):
    """The demo center with [[nodes]] branch and mobile1, one of them with a name that holds markup."""
    path = tmp_path / "center.toml"
    text = DEMO_CONFIG.read_text(encoding="utf-8") + NODES_TOML.replace('"Tổ lưu động 1"', '"Tổ <b>lưu</b> động 1"')
    path.write_text(text, encoding="utf-8")
    app = _app(tmp_path, accounts_template, clock, path, tmp_path / "center.sqlite3")
    web = WebClient(app=app, client=app.test_client(), tokens=dict(accounts_template[1]))
    web.path = path  # type: ignore[attr-defined]
    yield web
    app.extensions["xephang"].store.close()


def _center(web):
    return web.app.extensions["xephang"]


def _contact(web, node: str, ago_s: float, *, offset: float | None = 1.5, records: int = 0) -> None:
    """What the node's link leaves at the center (center/sync/nodes.py receive), written directly."""
    from center.sync import nodes

    c = _center(web)
    now = c.engine.clock()
    with c.store.write() as conn:
        nodes.create_token(conn, c.config, node, now)
        conn.execute("UPDATE sync_nodes SET last_contact_at = ?, clock_offset_s = ?, records = ? WHERE node = ?",
                     (to_iso(now - timedelta(seconds=ago_s)), offset, records, node))


@pytest.mark.parametrize(("path", "allowed"), [("/manager/api/nodes", {"admin", "manager"}),
                                               ("/api/sync/status", {"admin", "manager", "staff1"})])
def test_the_new_routes_let_in_only_their_roles_and_answer_json(center_web, path, allowed):
    for who in ("admin", "manager", "staff1", "main-kiosk-1", "main-hall", None):
        r = center_web.get(path, who=who)
        assert r.is_json, (who, r.status_code)
        if who in allowed:
            assert r.status_code == 200, (who, r.get_json())
        else:
            assert r.status_code == (401 if who is None else 403), who
            assert r.get_json()["message"] and r.get_json()["message_en"]
    assert center_web.get("/api/sync/status").get_json() == {"node": None, "banners": []}  # a center: no link


def test_places_show_each_node_and_a_silent_one_becomes_an_alert(center_web, clock):
    _contact(center_web, "branch", 30, records=12)
    c = _center(center_web)
    with c.store.write() as conn:
        conn.execute("INSERT INTO sync_batches (node, at, via, from_seq, to_seq, records, bytes, clock_offset_s) "
                     "VALUES ('branch', ?, 'bundle', 0, 40, 7, 900, 2.0)", (to_iso(clock() - timedelta(hours=1)),))
    data = center_web.get("/manager/api/nodes", who="manager").get_json()
    branch, mobile = data["nodes"]
    assert (branch["node"], branch["has_token"], branch["age_s"], branch["silent"]) == ("branch", True, 30, False)
    assert branch["last_contact_local"] == "08:59" and branch["records"] == 12
    assert branch["site_names"][0]["code"] == "branch" and branch["site_names"][0]["name"]
    assert branch["last_bundle"]["records"] == 7 and branch["last_bundle"]["at_local"] == "08:00"
    assert (mobile["node"], mobile["has_token"], mobile["age_s"]) == ("mobile1", False, None)
    assert data["alerts"] == []  # heard from 30 s ago; mobile1 has no token yet: nothing to act on

    over = center_web.get("/manager/api/overview?site=branch", who="manager").get_json()
    assert over["node"]["node"] == "branch" and over["node"]["age_s"] == 30
    assert over["services"] and over["counters"]  # the node's site: the same live state as a local one
    assert center_web.get("/manager/api/overview?site=main", who="manager").get_json()["node"] is None

    clock.advance(minutes=3)
    data = center_web.get("/manager/api/nodes", who="admin").get_json()
    assert data["nodes"][0]["silent"]
    [alert] = data["alerts"]
    assert alert["kind"] == "node_silent" and alert["node"] == "branch"
    assert alert["message"] == "Chưa nhận được tin từ Điểm 45 Trần Phú từ 08:59 (3 phút)"
    assert alert["message_en"] == "No news from Điểm 45 Trần Phú since 08:59 (3 min)"
    # On the overview of any site, beside the queue's own alerts.
    kinds = [a["kind"] for a in center_web.get("/manager/api/overview?site=main", who="manager").get_json()["alerts"]]
    assert "node_silent" in kinds


def test_a_node_whose_clock_is_off_is_an_alert_and_names_are_escaped(center_web, clock):
    _contact(center_web, "mobile1", 5, offset=-400.0)
    data = center_web.get("/manager/api/nodes", who="manager").get_json()
    [alert] = data["alerts"]
    assert alert["kind"] == "node_clock"
    assert alert["message"].startswith("Đồng hồ máy tại điểm Tổ <b>lưu</b> động 1 lệch 7 phút (chậm hơn")
    page = center_web.get("/manager/?site=luudong1", who="manager").get_data(as_text=True)
    assert "<b>lưu</b>" not in page  # the name, in the page's JSON and the select, is escaped
    assert 'id="places"' in page and "(điểm tại chỗ)" in page
    assert 'id="sync-status"' not in page  # a center has no link of its own to show


# ---------------------------------------------------------------------- at a node


@pytest.fixture
def node_web(tmp_path, accounts_template, clock):
    """Node "branch" in this process: its database joined with the center's manifest and its token (as `sync join`
    does)."""
    yield from _node_web(tmp_path, accounts_template, clock, token=True)


@pytest.fixture
def usb_node_web(tmp_path, accounts_template, clock):
    """A mobile team's laptop joined from a manifest file (`sync join --manifest`): no token, no link ever."""
    yield from _node_web(tmp_path, accounts_template, clock, token=False)


def _node_web(tmp_path, accounts_template, clock, *, token: bool):
    from center.config.read import load_config
    from center.storage.store import Store
    from center.sync import link, manifest
    from center.web.auth import Accounts
    from tests.sync_support import center_config

    center_cfg = load_config(center_config(tmp_path))
    accounts = Store(accounts_template[0])
    with accounts.read() as conn:
        body = manifest.build(center_cfg, conn, center_cfg.node("branch"))
    accounts.close()
    folder = tmp_path / "branch"
    folder.mkdir()
    db = folder / "node.sqlite3"
    store = Store(db)
    link.receive_manifest(store, body, clock())
    tokens = {"staff1": Accounts(store, clock).create_token(user="staff1"),
              "manager": Accounts(store, clock).create_token(user="manager"),
              "branch-kiosk-1": Accounts(store, clock).create_token(device="branch-kiosk-1", role="kiosk",
                                                                     site="branch")}
    store.close()
    from center.app import create_app

    if token:
        link.save_token(db.with_suffix(".node-token"), "xn_test")
    app = create_app(str(node_config(folder, "branch", "http://127.0.0.1:9")), str(db), clock=clock,
                     housekeeping=False)
    yield WebClient(app=app, client=app.test_client(), tokens=tokens)
    app.extensions["xephang"].store.close()


def _link(web, **values) -> None:
    c = web.app.extensions["xephang"]
    with c.store.write() as conn:
        conn.execute("UPDATE sync_link SET " + ", ".join(f"{k} = ?" for k in values), tuple(values.values()))


def test_a_node_tells_its_staff_when_the_link_is_down_and_its_clock_is_off(node_web, clock):
    s = node_web.get("/api/sync/status", who="staff1").get_json()
    assert s["node"] == "branch" and not s["link_up"]
    assert [b["kind"] for b in s["banners"]] == ["link_down"]
    assert s["banners"][0]["message"].startswith("Chưa kết nối được tới trung tâm – vẫn lấy số, gọi số bình thường")
    assert s["config_note"]["message"] == "Cấu hình nhận từ trung tâm lúc 09:00"
    assert node_web.get("/api/sync/status", who="branch-kiosk-1").status_code == 403

    _link(node_web, last_ok_at=to_iso(clock() - timedelta(seconds=8)), clock_offset_s=3.0)
    s = node_web.get("/api/sync/status", who="manager").get_json()
    assert s["link_up"] and s["banners"] == []
    waiting = s["pending"]  # the tokens made above are audited: their entries wait to go too

    engine = node_web.app.extensions["xephang"].engine
    engine.issue("branch", "CT")  # recorded on the node while the link is cut
    clock.advance(minutes=5)
    _link(node_web, clock_offset_s=-400.0)
    s = node_web.get("/api/sync/status", who="staff1").get_json()
    down, clock_off = s["banners"]
    assert s["pending"] > waiting and down["pending"] == s["pending"]
    assert down["message"] == ("Mất kết nối tới trung tâm từ 08:59 – vẫn lấy số, gọi số bình thường; dữ liệu sẽ "
                               f"gửi khi có mạng ({s['pending']} bản ghi đang chờ gửi)")
    assert clock_off["message"] == ("Đồng hồ máy này lệch 7 phút so với trung tâm (chậm hơn) – báo quản trị viên "
                                    "chỉnh giờ")
    assert "No link to the center since 08:59" in down["message_en"]

    page = node_web.get("/counter/branch-1", who="staff1").get_data(as_text=True)
    assert 'id="sync-status"' in page and "js/sync_status.js" in page
    assert 'id="sync-status"' in node_web.get("/manager/", who="manager").get_data(as_text=True)
    desk = node_web.get("/desk/branch", who="staff1").get_data(as_text=True)  # the reception desk too
    assert 'id="sync-status"' in desk and "js/sync_status.js" in desk


# ---------------------------------------------------------------------- the report's flag


def test_the_report_counts_tickets_from_a_node_whose_clock_was_off_and_is_unchanged_without(web, clock):
    c = web.app.extensions["xephang"]
    ids = [c.engine.issue("main", "CT")["id"] for _ in range(3)]
    url = f"/manager/api/report?from={DAY}&to={DAY}&group=service"
    before = web.get(url, who="manager").get_json()
    assert "clock_flag" not in before
    with c.store.write() as conn:  # as center/storage/outbox.py apply() flags a node's tickets
        conn.execute("UPDATE tickets SET clock_offset_s = ? WHERE id IN (?, ?)", (-310.0, ids[0], ids[1]))
    assert "clock_flag" not in web.get(url, who="manager").get_json()  # no batch was off: nothing read
    with c.store.write() as conn:
        conn.execute("INSERT INTO sync_batches (node, at, via, from_seq, to_seq, records, bytes, clock_offset_s) "
                     "VALUES ('branch', ?, 'link', 0, 9, 9, 500, -310.0)", (to_iso(clock()),))
    after = web.get(url, who="manager").get_json()
    assert after.pop("clock_flag") == {"tickets": 2, "max_offset_s": 310}
    before.pop("generated_at"), after.pop("generated_at")
    assert after == before  # every other figure as it was
    assert "clock_flag" not in web.get(url + "&site=branch", who="manager").get_json()
    page = web.get(f"/manager/reports?from={DAY}&to={DAY}", who="manager").get_data(as_text=True)
    assert "2 lượt trong khoảng này đến từ điểm tại chỗ có đồng hồ máy lệch quá 2 phút (lệch tới 5 phút)" in page
    assert 'id="clock-flag"' not in web.get(f"/manager/reports?from={DAY}&to={DAY}&site=branch",
                                            who="manager").get_data(as_text=True)
    csv = web.get(f"/manager/reports.csv?from={DAY}&to={DAY}&group=service", who="manager").get_data(as_text=True)
    assert "# Ghi chú đồng hồ" in csv and "Số phiếu từ máy lệch đồng hồ" in csv  # the export says so too
    assert "Ghi chú đồng hồ" not in web.get(f"/manager/reports.csv?from={DAY}&to={DAY}&site=branch",
                                            who="manager").get_data(as_text=True)
    printed = web.get(f"/manager/reports/print?period=day&date={DAY}", who="manager").get_data(as_text=True)
    assert 'id="clock-flag"' in printed  # and the printed report


def test_a_usb_only_laptop_tells_its_staff_to_carry_a_bundle_not_to_wait_for_the_network(usb_node_web, clock,
                                                                                        tmp_path):
    """Issue 26 item 8: joined with `sync join --manifest` (no token), the laptop never sends by itself: it says
    to export and carry the stick, and how many records the last bundle did not carry."""
    from center.sync import bundle

    r = usb_node_web.post("/api/tickets", who="staff1", json={"site": "branch", "service": "CT"})
    assert r.status_code == 201, r.get_data(as_text=True)
    s = usb_node_web.get("/api/sync/status", who="staff1").get_json()
    [banner] = s["banners"]
    assert banner["kind"] == "usb_only" and s["usb_only"] and banner["pending"] > 0
    assert "sẽ gửi khi có mạng" not in banner["message"]
    assert banner["message"].startswith("Máy này gửi dữ liệu về trung tâm bằng USB: chạy lệnh `xephang sync export")
    assert f"{banner['pending']} bản ghi chưa có trong bản xuất nào" in banner["message"]
    assert "(chưa xuất lần nào)" in banner["message"]
    bundle.export(usb_node_web.app.extensions["xephang"].store, tmp_path / "usb", clock())
    [banner] = usb_node_web.get("/api/sync/status", who="staff1").get_json()["banners"]
    assert banner["pending"] == 0 and "đã xuất đủ (lần xuất gần nhất 09:00)" in banner["message"]
    usb_node_web.post("/api/tickets", who="staff1", json={"site": "branch", "service": "CT"})
    [banner] = usb_node_web.get("/api/sync/status", who="staff1").get_json()["banners"]
    assert banner["pending"] > 0  # what came since the last bundle


def test_a_node_whose_records_the_center_holds_back_tells_its_staff(node_web, clock):
    """Issue 25: the center took a batch but for some rows (422 records_refused): the node's staff see it until the
    center holds nothing of theirs."""
    import json

    refused = {"status": 422, "message": "…", "message_en": "…", "records": 3, "whole": False}
    _link(node_web, last_ok_at="2026-11-23T02:00:00.000Z", refused_at="2026-11-23T02:00:00.000Z",
          refused=json.dumps(refused))
    s = node_web.get("/api/sync/status", who="staff1").get_json()
    [banner] = [b for b in s["banners"] if b["kind"] == "link_refused"]
    assert banner["message"].startswith("Trung tâm chưa nhận 3 bản ghi của máy này (lúc 09:00)")
    assert "xephang sync held" in banner["message"] and s["refused"]["records"] == 3


def test_a_center_whose_records_the_hub_holds_back_shows_it_on_the_overview(tmp_path, accounts_template, clock):
    """Issue 25: the hub took the center's batch but for some rows (or refused it whole): the center's managers see
    it on the live overview, not only IT in `sync status`."""
    import json
    import shutil

    from center.app import create_app
    from center.storage import outbox
    from tests.hub_support import center_with_hub

    db = tmp_path / "center.sqlite3"
    shutil.copyfile(accounts_template[0], db)
    app = create_app(str(center_with_hub(tmp_path, "http://127.0.0.1:9")), str(db), clock=clock, housekeeping=False)
    web = WebClient(app=app, client=app.test_client(), tokens=dict(accounts_template[1]))
    c = app.extensions["xephang"]
    try:
        assert not [a for a in web.get("/manager/api/overview?site=main", who="manager").get_json()["alerts"]
                    if a["kind"] == "hub_refused"]
        with c.store.write() as conn:
            outbox.link(conn, "hoabinh", None)
            conn.execute("UPDATE sync_link SET refused_at = ?, refused = ?", ("2026-11-23T02:00:00.000Z", json.dumps(
                {"status": 422, "message": "…", "message_en": "…", "records": 2, "whole": False})))
        alerts = web.get("/manager/api/overview?site=main", who="manager").get_json()["alerts"]
        [alert] = [a for a in alerts if a["kind"] == "hub_refused"]
        assert alert["message"].startswith("Cổng dữ liệu của tỉnh chưa nhận 2 bản ghi của trung tâm (lúc 09:00)")
    finally:
        c.store.close()
