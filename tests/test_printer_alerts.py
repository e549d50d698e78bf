"""A kiosk printer failure reaches the staff at their counter page at once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from .conftest import free_port
from .counter_support import query, sign_in
from .kiosk_support import FakePrinter, kiosk_config, network_printer


@pytest.mark.browser
def test_counter_page_shows_a_kiosk_printer_failure(make_server, tmp_path, page):
    dead_port = free_port()  # nothing listens there: the printer is "off"
    server = make_server(config=kiosk_config(tmp_path, network_printer(dead_port)))
    sign_in(page, server, "staff1", "/counter/main-1")
    page.wait_for_selector("#conn", state="hidden")
    r = server.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1", json={"service": "CT"})
    assert r.status_code == 201 and r.json()["print"]["ok"] is False
    number = r.json()["ticket"]["number"]
    notice = page.locator("#notice")
    notice.wait_for(state="visible", timeout=5000)
    assert "Máy in" in notice.inner_text() and number in notice.inner_text()


def _two_kiosks(tmp_path, dead_port: int, good_port: int):
    """main-kiosk-1 ("Kiosk sảnh chính") prints to `dead_port`; a second kiosk, "Kiosk cửa phụ", to `good_port`."""
    path = kiosk_config(tmp_path, network_printer(dead_port))
    text = path.read_text(encoding="utf-8")
    anchor = text.index("\n", text.index("printer = ", text.index('id = "main-kiosk-1"')))
    second = ('\n\n[[sites.kiosks]]\nid = "main-kiosk-2"\nname = "Kiosk cửa phụ"\n'
              f"printer = {network_printer(good_port)}\n")
    path.write_text(text[:anchor] + second + text[anchor:], encoding="utf-8")
    return path


@pytest.mark.browser
def test_counter_page_keeps_showing_a_failing_printer_by_the_kiosks_name_until_it_prints_again(
        make_server, tmp_path, page):
    dead_port = free_port()
    server = make_server(config=kiosk_config(tmp_path, network_printer(dead_port)))
    first = server.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1", json={"service": "CT"}).json()
    assert first["print"]["ok"] is False
    # opened after the failure: the page still learns it, by the kiosk's configured name
    sign_in(page, server, "staff1", "/counter/main-1")
    alert = page.locator("#printer-alert")
    expect(alert).to_be_visible()
    expect(alert.locator(".printer-name")).to_have_text("Máy in Kiosk sảnh chính")
    expect(alert).to_contain_text(first["ticket"]["number"])
    assert "main-kiosk-1" not in alert.inner_text()
    expect(alert.locator("a.printer-desk")).to_have_attribute("href", "/desk/main")
    # live: the next failed ticket joins the alert
    second = server.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1", json={"service": "CT"}).json()
    expect(alert).to_contain_text(second["ticket"]["number"])
    # the printer is back: once a ticket prints there, the alert goes away
    printer = FakePrinter("ok", port=dead_port)
    try:
        third = server.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1", json={"service": "CT"}).json()
        assert third["print"]["ok"] is True
        expect(alert).to_be_hidden()
    finally:
        printer.close()


@pytest.mark.browser
def test_desk_shows_the_failing_kiosk_and_reprints_its_tickets_on_a_working_printer(make_server, tmp_path, page):
    dead_port = free_port()
    good = FakePrinter("ok")
    try:
        server = make_server(config=_two_kiosks(tmp_path, dead_port, good.port))
        with page.expect_response(lambda resp: "/desk/main/printers" in resp.url):  # its socket is connected
            sign_in(page, server, "staff1", "/desk/main")
        box = page.locator("#d-printers")
        expect(box).to_be_hidden()
        r = server.post("/kiosk/main-kiosk-1/issue", who="main-kiosk-1", json={"service": "CT"}).json()
        assert r["print"]["ok"] is False
        number, ticket_id = r["ticket"]["number"], r["ticket"]["id"]
        expect(box).to_be_visible(timeout=10000)
        expect(box.locator(".printer-name")).to_have_text("Máy in Kiosk sảnh chính")
        expect(box.locator(".unprinted")).to_have_text([number])
        expect(page.locator("#d-reprint-on")).to_have_value("main-kiosk-2")  # a working printer is offered
        box.get_by_role("button", name=f"In lại số {number}").click()
        job = good.wait_job()
        assert job.startswith(b"\x1b@")
        expect(box.locator(".unprinted")).to_have_count(0)
        expect(box).to_contain_text("Kiosk sảnh chính")  # that printer still fails
        rows = query(server, "SELECT kiosk, status FROM print_jobs WHERE ticket_id = ? ORDER BY id", ticket_id)
        assert [tuple(r) for r in rows] == [("main-kiosk-1", "failed"), ("main-kiosk-2", "printed")]
    finally:
        good.close()
