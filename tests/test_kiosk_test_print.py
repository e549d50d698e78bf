"""POST /kiosk/<kiosk_id>/test-print against a real server process and the fake ESC/POS printer."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.kiosk_support import (
    FakePrinter,
    decode_raster,
    has_cut,
    kiosk_config,
    network_printer,
    print_agent,
)

PATH = "/kiosk/main-kiosk-1/test-print"


def db_rows(server, sql: str) -> list[tuple]:
    conn = sqlite3.connect(server.db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_test_print_reaches_the_printer_as_a_raster_of_its_width_and_is_audited(kiosk_server, printer_port):
    fp = FakePrinter("ok", port=printer_port)
    try:
        r = kiosk_server.post(PATH, who="manager", json={})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ok"] is True and body["status"] == "printed"
        assert body["message"] and body["message_en"]
        job = fp.wait_job()
        img = decode_raster(job)
        assert img.width == 512 and has_cut(job)  # 80 mm paper, the default profile
        assert img.convert("L").histogram()[0] > 2000  # something is drawn
    finally:
        fp.close()
    # Nothing on any ticket, no print job; one audit row naming who tested which kiosk.
    assert db_rows(kiosk_server, "SELECT count(*) FROM print_jobs") == [(0,)]
    assert db_rows(kiosk_server, "SELECT count(*) FROM ticket_events") == [(0,)]
    assert db_rows(kiosk_server, "SELECT actor, action, target FROM audit_log WHERE action = 'printer.test'") == [
        ("manager", "printer.test", "main-kiosk-1")]
    entries = kiosk_server.get("/api/audit", who="manager").json()["entries"]
    assert any(e["action"] == "printer.test" and e["actor"] == "manager" for e in entries)


def test_a_58mm_printer_gets_a_384_dot_test_page(make_server, tmp_path, printer_port):
    server = make_server(config=kiosk_config(tmp_path, network_printer(printer_port, paper_mm=58,
                                                                       profile="POS-5890")))
    fp = FakePrinter("ok", port=printer_port)
    try:
        assert server.post(PATH, who="admin", json={}).json()["ok"] is True
        assert decode_raster(fp.wait_job()).width == 384
    finally:
        fp.close()


@pytest.mark.parametrize("mode", ["refused", "never_read"])
def test_a_dead_printer_gives_ok_false_within_3_s(kiosk_server, printer_port, mode):
    fp = FakePrinter(mode, port=printer_port) if mode != "refused" else None
    try:
        start = time.monotonic()
        r = kiosk_server.post(PATH, who="admin", json={})
        elapsed = time.monotonic() - start
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["ok"] is False and body["status"] == "failed"
        assert body["error"] == ("printer_off" if mode == "refused" else "printer_not_responding")
        assert body["message"] and body["message_en"]
        assert elapsed < 3.0  # the same contract as a ticket: an outcome within 3 s
    finally:
        if fp:
            fp.close()
    detail = db_rows(kiosk_server, "SELECT detail FROM audit_log WHERE action = 'printer.test'")
    assert len(detail) == 1 and '"ok": false' in detail[0][0]


@pytest.mark.parametrize("who", ["staff1", "main-kiosk-1", "main-hall"])
def test_staff_kiosk_and_display_may_not_test_print(kiosk_server, printer_port, who):
    fp = FakePrinter("ok", port=printer_port)
    try:
        r = kiosk_server.post(PATH, who=who, json={})
        assert r.status_code == 403, r.text
        assert r.json()["error"]
        time.sleep(0.3)
        assert fp.jobs == []
    finally:
        fp.close()
    assert db_rows(kiosk_server, "SELECT count(*) FROM audit_log WHERE action = 'printer.test'") == [(0,)]


def test_a_kiosk_without_printer_answers_none(server):
    r = server.post(PATH, who="admin", json={})
    assert r.status_code == 200
    assert r.json()["ok"] is True and r.json()["status"] == "none"


@pytest.mark.browser
def test_admin_page_button_prints_and_shows_the_outcome(page, kiosk_server, printer_port):
    from playwright.sync_api import expect

    from tests.conftest import PASSWORD

    page.goto(kiosk_server.url + "/login")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_load_state()
    page.goto(kiosk_server.url + "/manager/admin/")
    row = page.locator('#kiosk-printers tr[data-kiosk="main-kiosk-1"]')
    fp = FakePrinter("ok", port=printer_port)
    try:
        row.locator("button.test-print").click()
        expect(row.locator(".outcome")).to_contain_text("Đã gửi trang in thử tới máy in", timeout=10000)
        assert decode_raster(fp.wait_job()).width == 512
    finally:
        fp.close()
    # A dead printer: the outcome says so in Vietnamese.
    row.locator("button.test-print").click()
    expect(row.locator(".outcome")).to_contain_text("Máy in chưa bật", timeout=10000)
    page.screenshot(path="/tmp/admin_index.png", full_page=True)


def test_no_test_print_while_the_kiosk_prints_a_ticket(kiosk_server, printer_port):
    """A ticket print holds the printer (here a printer that never reads, so it takes the whole deadline):
    a test print asked meanwhile is refused as busy instead of opening a second connection."""
    import threading

    fp = FakePrinter("never_read", port=printer_port)
    answers = {}

    def issue():
        answers["issue"] = kiosk_server.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1",
                                             json={"service": "CT"}, headers={"Accept": "application/json"})

    try:
        worker = threading.Thread(target=issue)
        worker.start()
        deadline = time.monotonic() + 5
        while fp.connections == 0 and time.monotonic() < deadline:  # the ticket print has the printer
            time.sleep(0.02)
        assert fp.connections == 1
        r = kiosk_server.post(PATH, who="admin", json={})
        worker.join(10)
        assert r.status_code == 409 and r.json()["error"] == "printer_busy"
        assert answers["issue"].status_code == 201
        assert fp.connections == 1  # the test print never connected
    finally:
        fp.close()


def test_test_print_through_the_print_agent_of_the_kiosk_pc(make_server, tmp_path):


    fp = FakePrinter("ok")
    srv = make_server(config=kiosk_config(tmp_path, '{ driver = "agent" }'))
    # No agent running: the outcome says so within the deadline.
    r = srv.post(PATH, who="admin", json={})
    assert r.status_code == 200 and r.json()["ok"] is False and r.json()["error"] == "agent_offline"
    try:
        with print_agent(srv, fp.port, tmp_path / "agent.log"):
            deadline = time.monotonic() + 20
            while True:  # until the agent has connected and answers
                body = srv.post(PATH, who="manager", json={}).json()
                if body["ok"] or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert body["ok"] is True and body["status"] == "printed", body
            job = fp.wait_job()
            assert decode_raster(job).width == 384 and has_cut(job)
    finally:
        fp.close()
    assert db_rows(srv, "SELECT count(*) FROM print_jobs") == [(0,)]
    assert db_rows(srv, "SELECT count(*) FROM ticket_events") == [(0,)]
