"""The first ticket after a server start: what is cold is warmed at start, and a ticket the printer took whole
is never announced as a print failure (issue: the first tap took 3.1 s and the kiosk said "Máy in không phản hồi
kịp – vui lòng ghi nhớ số B001…" while the printer had the whole ticket)."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from printer_drivers import drivers
from tests.conftest import WebClient
from tests.kiosk_support import FakePrinter, decode_raster, kiosk_config, network_printer

ISSUE = "/kiosk/main-kiosk-1/issue"
JSON = {"Accept": "application/json"}


@pytest.fixture
def fake_printer():
    fp = FakePrinter("ok")
    yield fp
    fp.close()


@pytest.fixture
def kiosk_web(tmp_path, accounts_template, clock, fake_printer):
    """The real app in this process, its main kiosk printing to a fake network printer on 127.0.0.1."""
    from center.app import create_app

    db = tmp_path / "center.sqlite3"
    shutil.copyfile(accounts_template[0], db)
    config = kiosk_config(tmp_path, network_printer(fake_printer.port))
    app = create_app(str(config), str(db), clock=clock, housekeeping=False)
    yield WebClient(app=app, client=app.test_client(), tokens=dict(accounts_template[1]))
    app.extensions["xephang"].store.close()


def _events(web, ticket_id):
    return [e["kind"] for e in web.get(f"/api/tickets/{ticket_id}", who="staff1").get_json()["events"]]


def test_warm_up_loads_the_printer_profile_fonts_and_header_before_any_tap(kiosk_web):
    from center.output import printing
    from printer_drivers import profiles, ticket

    c = kiosk_web.app.extensions["xephang"]
    for cached in (profiles.escpos_profile, ticket.font, ticket._text_block):
        cached.cache_clear()
    timings = printing.warm_up(c)
    assert set(timings) == {"pool_ms", "render_ms", "resolve_ms"}
    profile = c.config.kiosk("main-kiosk-1").printer.profile
    assert profiles.escpos_profile.cache_info().currsize >= 1
    before = profiles.escpos_profile.cache_info().hits
    profiles.escpos_profile(profile)
    assert profiles.escpos_profile.cache_info().hits == before + 1  # the kiosk's own profile is loaded
    assert ticket.font.cache_info().currsize >= 5  # the ticket's sizes and weights
    assert ticket._text_block.cache_info().currsize >= 5  # the header, labels and lines every ticket repeats


def _late_runner(delay_s: float | None):
    """A device runner whose deadline passes while the printer is still taking the job (a worker busy after a
    restart): with `delay_s` None the write has finished by the time the deadline is noticed; else it is still
    running and ends `delay_s` later."""

    def run(fn, timeout=None):
        if delay_s is None:
            fn()
        else:
            threading.Thread(target=lambda: (time.sleep(delay_s), fn()), daemon=True).start()
        raise TimeoutError("the deadline passed")

    return run


def test_a_ticket_the_printer_took_whole_as_the_deadline_passed_is_told_printed(kiosk_web, fake_printer, monkeypatch):
    monkeypatch.setattr(drivers, "_run_blocking", _late_runner(None))
    r = kiosk_web.post(ISSUE, who="main-kiosk-1", json={"service": "CT"}, headers=JSON)
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    assert body["print"]["ok"] is True and body["print"]["status"] == "printed", body["print"]
    assert body["message"] == "" and "liên hệ cán bộ" not in body["message"]
    assert decode_raster(fake_printer.wait_job()).width == 512  # the whole ticket reached the printer
    assert "printed" in _events(kiosk_web, body["ticket"]["id"])
    assert "print_failed" not in _events(kiosk_web, body["ticket"]["id"])


def test_a_job_still_printing_at_the_deadline_answers_pending_then_its_real_outcome(kiosk_web, fake_printer,
                                                                                    monkeypatch):
    c = kiosk_web.app.extensions["xephang"]
    published = []
    monkeypatch.setattr(c.engine, "publish", published.extend)
    monkeypatch.setattr(drivers, "_run_blocking", _late_runner(0.3))
    r = kiosk_web.post(ISSUE, who="main-kiosk-1", json={"service": "CT"}, headers=JSON)
    assert r.status_code == 201, r.get_data(as_text=True)
    body = r.get_json()
    ticket = body["ticket"]
    # Not a failure: the kiosk says the ticket is printing and waits for the outcome.
    assert body["print"]["ok"] is True and body["print"]["status"] == "pending", body["print"]
    assert body["message"] == ""
    fake_printer.wait_job()
    until = time.monotonic() + 10
    while "printed" not in _events(kiosk_web, ticket["id"]) and time.monotonic() < until:
        time.sleep(0.05)
    assert "printed" in _events(kiosk_web, ticket["id"])
    assert "print_failed" not in _events(kiosk_web, ticket["id"])
    with c.store.connection() as conn:
        assert conn.execute("SELECT status FROM print_jobs WHERE ticket_id = ?",
                            (ticket["id"],)).fetchone()["status"] == "printed"
    # The kiosk is told, live: the outcome of its ticket, late and printed.
    late = [e.payload for e in published if e.name == "printer.status"]
    assert late and late[-1]["ticket"] == ticket["id"] and late[-1]["late"] is True and late[-1]["ok"] is True
    assert late[-1]["kiosk"] == "main-kiosk-1" and late[-1]["kiosk_message"] == ""


def test_a_job_that_fails_after_the_deadline_tells_the_kiosk_the_failure(kiosk_web, fake_printer, monkeypatch):
    c = kiosk_web.app.extensions["xephang"]
    published = []
    monkeypatch.setattr(c.engine, "publish", published.extend)
    fake_printer.mode = "paper_out"
    monkeypatch.setattr(drivers, "_run_blocking", _late_runner(0.2))
    body = kiosk_web.post(ISSUE, who="main-kiosk-1", json={"service": "CT"}, headers=JSON).get_json()
    assert body["print"]["status"] == "pending"
    until = time.monotonic() + 10
    while not any(e.name == "printer.status" for e in published) and time.monotonic() < until:
        time.sleep(0.05)
    late = [e.payload for e in published if e.name == "printer.status"][-1]
    assert late["late"] is True and late["ok"] is False and late["error"] == "paper_out"
    number = body["ticket"]["number"]
    assert late["kiosk_message"] == f"Máy in hết giấy – vui lòng ghi nhớ số {number} và liên hệ cán bộ"
    assert "print_failed" in _events(kiosk_web, body["ticket"]["id"])


def test_the_first_ticket_after_a_fresh_start_says_printed(kiosk_server, printer_port):
    """A real server started fresh (cold caches warmed at start), its first issue on a fake network printer."""
    fp = FakePrinter("ok", port=printer_port)
    try:
        r = kiosk_server.post(ISSUE, who="main-kiosk-1", json={"service": "CT"}, headers=dict(JSON))
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["print"]["ok"] is True and body["print"]["status"] == "printed", body["print"]
        assert body["message"] == ""
        fp.wait_job()
        events = [e["kind"] for e in kiosk_server.get(f"/api/tickets/{body['ticket']['id']}").json()["events"]]
        assert "printed" in events and "print_failed" not in events
    finally:
        fp.close()
