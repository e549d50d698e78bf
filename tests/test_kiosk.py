"""The kiosk route against a real server process and a fake ESC/POS printer on 127.0.0.1."""

from __future__ import annotations

import json
import time
import uuid

import requests
import socketio
import zxingcpp
from PIL import Image

from tests.conftest import ROOT
from tests.kiosk_support import (
    FakePrinter,
    decode_raster,
    has_cut,
    kiosk_config,
    print_agent,
)

ISSUE = "/kiosk/main-kiosk-1/issue"
JSON = {"Accept": "application/json"}


def issue(server, service="CT", who="main-kiosk-1", path=ISSUE, **body):
    return server.post(path, who=who, json={"service": service, **body}, headers=dict(JSON))


def events_of(server, ticket_id):
    return [e["kind"] for e in server.get(f"/api/tickets/{ticket_id}").json()["events"]]


def test_kiosk_issue_prints_the_ticket_and_records_it(kiosk_server, printer_port):
    fp = FakePrinter("ok", port=printer_port)
    try:
        r = issue(kiosk_server)
        assert r.status_code == 201, r.text
        body = r.json()
        t = body["ticket"]
        assert t["number"] == "A001" and t["service"] == "CT"
        assert t["counters"] == [1, 2, 3, 6]
        assert t["ahead"] == 0
        assert body["print"]["ok"] is True and body["print"]["status"] == "printed"
        job = fp.wait_job()
        img = decode_raster(job)
        assert img.width == 512 and has_cut(job)
        assert img.convert("L").histogram()[0] > 5000
        url = f"{kiosk_server.url}/t/{t['public_id']}"
        assert t["public_url"] == url
        assert url in [x.text for x in zxingcpp.read_barcodes(img)]
        assert "printed" in events_of(kiosk_server, t["id"])
        # The QR code leads to the ticket's own page.
        page = requests.get(url, timeout=10)
        assert page.status_code == 200 and "A001" in page.text
    finally:
        fp.close()


def test_each_printer_fault_reaches_the_kiosk_within_3_s_and_alerts_staff(kiosk_server, printer_port):
    alerts: list[dict] = []
    sio = socketio.Client(reconnection=False)
    sio.on("printer.status", alerts.append)
    sio.connect(kiosk_server.url, auth={"site": "main", "token": kiosk_server.tokens["staff1"]},
                transports=["websocket"], wait_timeout=10)
    try:
        for mode, error in (("refused", "printer_off"), ("no_accept", "printer_unreachable"),
                            ("never_read", "printer_not_responding"), ("paper_out", "paper_out")):
            fp = None if mode == "refused" else FakePrinter(mode, port=printer_port)
            try:
                start = time.monotonic()
                r = issue(kiosk_server, request_id=str(uuid.uuid4()))
                elapsed = time.monotonic() - start
            finally:
                if fp:
                    fp.close()
            assert r.status_code == 201, r.text
            body = r.json()
            number = body["ticket"]["number"]
            assert body["print"]["ok"] is False and body["print"]["error"] == error, (mode, body["print"])
            assert f"vui lòng ghi nhớ số {number} và liên hệ cán bộ" in body["message"]
            assert elapsed < 3.0, (mode, elapsed)  # the kiosk learns the outcome within 3 s
            assert "print_failed" in events_of(kiosk_server, body["ticket"]["id"])
        deadline = time.monotonic() + 5
        while len(alerts) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [a["error"] for a in alerts[:4]] == ["printer_off", "printer_unreachable", "printer_not_responding",
                                                    "paper_out"]
        assert all(a["kiosk"] == "main-kiosk-1" and a["ok"] is False for a in alerts[:4])
        assert alerts[3]["message"] == "Máy in hết giấy"
    finally:
        sio.disconnect()


def test_a_kiosk_issues_only_for_itself(kiosk_server):
    assert issue(kiosk_server, who="branch-kiosk-1").status_code == 403  # other site's kiosk
    assert issue(kiosk_server, who="main-hall").status_code == 403  # a display
    assert issue(kiosk_server, who="staff1").status_code == 403  # staff use the desk
    r = requests.post(kiosk_server.url + ISSUE, json={"service": "CT"}, headers=dict(JSON), timeout=10)
    assert r.status_code in (400, 401)  # no credential at all: refused (the CSRF check answers first)
    assert issue(kiosk_server, path="/kiosk/nope/issue").status_code == 404
    queue = kiosk_server.get("/api/queue?site=main").json()
    assert all(s["waiting"] == 0 for s in queue["services"])


def test_a_retried_request_returns_the_same_ticket(server):
    rid = str(uuid.uuid4())
    first = issue(server, request_id=rid)
    again = issue(server, request_id=rid)
    assert first.status_code == again.status_code == 201
    assert again.json()["ticket"]["id"] == first.json()["ticket"]["id"]
    assert again.json()["repeated"] is True
    queue = server.get("/api/queue?site=main").json()
    assert next(s for s in queue["services"] if s["code"] == "CT")["waiting"] == 1


def test_concurrent_double_tap_makes_one_ticket(server):
    from concurrent.futures import ThreadPoolExecutor

    rid = str(uuid.uuid4())
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: issue(server, request_id=rid), range(4)))
    assert {a.json()["ticket"]["id"] for a in answers} == {answers[0].json()["ticket"]["id"]}


def test_a_kiosk_is_rate_limited_with_a_vietnamese_message(server):
    codes = [issue(server, request_id=str(uuid.uuid4())).status_code for _ in range(6)]
    assert codes[:5] == [201] * 5
    assert codes[5] == 429
    r = issue(server, request_id=str(uuid.uuid4()))
    assert r.status_code == 429
    body = r.json()
    assert body["error"] == "rate_limited" and "vui lòng chờ" in body["message"]
    assert int(r.headers["Retry-After"]) >= 1


def test_closed_site_refuses_with_the_reason(make_server, tmp_path):
    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    first = text.index('hours = { default = ["00:00-24:00"] }')
    closed = text[:first] + 'hours = { default = [] }' + text[first + len('hours = { default = ["00:00-24:00"] }'):]
    path = tmp_path / "closed.toml"
    path.write_text(closed, encoding="utf-8")
    srv = make_server(config=path)
    r = issue(srv)
    assert r.status_code == 409 and r.json()["error"] == "closed"
    assert "Ngoài giờ làm việc" in r.json()["message"]
    assert srv.get("/api/queue?site=main", who="main-kiosk-1").json()["opening"]["issuing"] is False


def test_staff_reprint_and_ticket_png(kiosk_server, printer_port):
    fp = FakePrinter("ok", port=printer_port)
    try:
        t = issue(kiosk_server).json()["ticket"]
        fp.wait_job(1)
        r = kiosk_server.post(f"/kiosk/tickets/{t['id']}/reprint", who="staff1", json={}, headers=dict(JSON))
        assert r.status_code == 200, r.text
        assert r.json()["print"]["ok"] is True
        assert decode_raster(fp.wait_job(2)).width == 512
        assert events_of(kiosk_server, t["id"]).count("printed") == 2
        assert kiosk_server.post(f"/kiosk/tickets/{t['id']}/reprint", who="main-kiosk-1", json={},
                                 headers=dict(JSON)).status_code == 403
    finally:
        fp.close()
    png = kiosk_server.get(f"/tickets/{t['id']}/ticket.png?paper=58", who="staff1")
    assert png.status_code == 200 and png.headers["Content-Type"] == "image/png"
    import io

    img = Image.open(io.BytesIO(png.content))
    assert img.width == 384
    assert kiosk_server.get(f"/tickets/{t['id']}/ticket.png", who="main-kiosk-1").status_code == 200
    assert kiosk_server.get(f"/tickets/{t['id']}/ticket.png", who="branch-kiosk-1",
                            headers=dict(JSON)).status_code == 404
    assert kiosk_server.get(f"/tickets/{t['id']}/ticket.png", who=None, headers=dict(JSON)).status_code == 401


def test_reception_desk_issues_with_priority_and_chosen_printer(kiosk_server, printer_port):
    page = requests.get(kiosk_server.url + "/desk/main", allow_redirects=False, timeout=10)
    assert page.status_code == 302 and "/login" in page.headers["Location"]
    fp = FakePrinter("ok", port=printer_port)
    try:
        r = kiosk_server.post("/desk/main/issue", who="staff1", headers=dict(JSON),
                              json={"service": "HD", "priority": "elderly", "printer": "main-kiosk-1"})
        assert r.status_code == 201, r.text
        t = r.json()["ticket"]
        assert t["priority"] == "elderly" and r.json()["print"]["status"] == "printed"
        fp.wait_job()
        full = kiosk_server.get(f"/api/tickets/{t['id']}").json()
        assert full["source"] == "desk" and full["staff"] is None or full["source"] == "desk"
        none = kiosk_server.post("/desk/main/issue", who="staff1", headers=dict(JSON), json={"service": "CT"})
        assert none.status_code == 201 and none.json()["print"]["status"] == "none"
        bad = kiosk_server.post("/desk/main/issue", who="staff1", headers=dict(JSON),
                                json={"service": "CT", "printer": "branch-kiosk-1"})
        assert bad.status_code == 422
    finally:
        fp.close()


def test_follow_page_is_public_and_unknown_links_are_friendly(server):
    t = issue(server).json()["ticket"]
    r = requests.get(f"{server.url}/t/{t['public_id']}", timeout=10)
    assert r.status_code == 200 and t["number"] in r.text
    missing = requests.get(f"{server.url}/t/not-a-ticket", timeout=10)
    assert missing.status_code == 404 and "Không tìm thấy" in missing.text
    qr = requests.get(f"{server.url}/t/{t['public_id']}/qr.svg", timeout=10)
    assert qr.status_code == 200 and qr.headers["Content-Type"].startswith("image/svg")


def test_printer_health_route(kiosk_server, printer_port):
    fp = FakePrinter("paper_low", port=printer_port)
    try:
        r = kiosk_server.get("/kiosk/main-kiosk-1/printer", who="staff1", headers=dict(JSON))
        assert r.status_code == 200 and r.json()["health"]["paper"] == "low"
        assert kiosk_server.get("/kiosk/main-kiosk-1/printer", who="branch-kiosk-1",
                                headers=dict(JSON)).status_code == 403
    finally:
        fp.close()


def test_print_agent_prints_a_job_and_reconnects_after_a_server_restart(make_server, tmp_path):
    fp = FakePrinter("ok")
    srv = make_server(config=kiosk_config(tmp_path, '{ driver = "agent" }'))
    try:
        with print_agent(srv, fp.port, tmp_path / "agent.log"):
            def issue_until_printed(count: int) -> dict:
                deadline = time.monotonic() + 20
                while True:
                    body = issue(srv, request_id=str(uuid.uuid4())).json()
                    if body["print"]["ok"] or time.monotonic() > deadline:
                        return body
                    time.sleep(1)

            body = issue_until_printed(1)
            assert body["print"]["ok"] is True and body["print"]["status"] == "printed", body
            assert decode_raster(fp.wait_job(1)).width == 384
            assert "printed" in events_of(srv, body["ticket"]["id"])
            srv.restart()
            body = issue_until_printed(2)
            assert body["print"]["ok"] is True, body
            job = fp.wait_job(len(fp.jobs))
            assert has_cut(job)
            assert body["ticket"]["number"] in json.dumps(body)
    finally:
        fp.close()
