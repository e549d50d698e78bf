"""Issue 17, the hub's side: a citizen books on the hub's public page, the booking flows down to the center with
the sync protocol (and its cancellation too), the per-person cap and a full slot are refused, and the
province's other systems book through the API with a token."""

from __future__ import annotations

import io
import re
import sqlite3
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests
import zxingcpp
from PIL import Image

from center.config.read import ConfigError
from center.hub.booking_pages import PAGE_PER_MIN
from center.hub.config import load_hub_config
from tests.conftest import cli
from tests.hub_booking_support import ensure_booking_labels
from tests.hub_pages_support import add_hub_user, center_server, hub_session
from tests.hub_support import HubServer, center_with_hub, hub_cli, hub_config
from tests.pg_support import pg, pg_db  # noqa: F401 - fixtures

ALPHABET = set("ABCDEFGHJKMNPQRSTUVWXYZ23456789")
PLACE = "hoabinh:main"


def _tomorrow(days: int = 1) -> str:
    return (datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).date() + timedelta(days=days)).isoformat()


def _center_booking(db, code: str) -> tuple | None:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT status, origin, site, service, slot_at FROM bookings WHERE code = ?",
                            (code,)).fetchone()
    finally:
        conn.close()


def _wait_center(db, code: str, status: str, timeout: float = 15) -> tuple:
    deadline = time.monotonic() + timeout
    while True:
        row = _center_booking(db, code)
        if (row and row[0] == status) or time.monotonic() > deadline:
            assert row and row[0] == status, (code, row)
            return row
        time.sleep(0.2)


def _form(session: requests.Session, url: str) -> str:
    page = session.get(url, timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page[:800]
    return token.group(1)


def _book_form(s: requests.Session, hub: HubServer, slot_at: str, phone: str, day: str) -> requests.Response:
    query = f"?place={PLACE}&service=CT&day={day}"
    token = _form(s, hub.url + "/dat-lich" + query)
    return s.post(hub.url + "/dat-lich", data={"csrf_token": token, "place": PLACE, "service": "CT", "day": day,
                                                "slot_at": slot_at, "phone": phone, "name": "Nguyễn Văn A"},
                  timeout=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory, accounts_template, pg_db):  # noqa: F811
    """A hub, a system's API token, and center hoabinh joined to it (its labels open bookings)."""
    tmp = tmp_path_factory.mktemp("hub-booking")
    hub = HubServer(hub_config(tmp, pg_db)).start()
    cfg = center_with_hub(tmp, hub.url)
    center = center_server(tmp, accounts_template, cfg)
    center.stop()  # again, with a heartbeat a second: an idle center asks for the hub's bookings that often
    center.env["XEPHANG_SYNC_HEARTBEAT_S"] = "1"
    center.start()
    try:
        token = hub_cli(hub.config, "token", "hoabinh").strip().splitlines()[-1]
        cli(center.db, "sync", "join", "--config", str(cfg), stdin=token + "\n")
        system = hub_cli(hub.config, "api-token", "dvc-tinh").strip().splitlines()[-1]
        deadline = time.monotonic() + 30
        with psycopg.connect(pg_db, autocommit=True) as conn:
            while True:  # until the center's labels (with its booking settings) reached the hub
                row = conn.execute("SELECT labels->'booking' FROM hub_labels WHERE center = 'hoabinh'").fetchone()
                if (row and row[0]) or time.monotonic() > deadline:
                    break
                if row and time.monotonic() > deadline - 25:
                    ensure_booking_labels(pg_db, "hoabinh", cfg)  # the center's side not there yet: stand-in
                time.sleep(0.2)
        assert row and row[0] and row[0]["enabled"], row
        yield hub, center, {"Authorization": f"Bearer {system}"}
    finally:
        center.stop()
        hub.stop()


def _slots(hub: HubServer, api: dict, day: str, service: str = "CT") -> list[dict]:
    r = requests.get(hub.url + "/hub/api/booking-slots", params={"center": "hoabinh", "site": "main",
                                                                "service": service, "day": day},
                     headers=api, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["slots"]


def book_on_the_page(page, hub: HubServer, name: str, phone: str, day: str | None = None) -> str:
    """A citizen on a phone books service CT at the first place, on `day` (else the first day offered), in its
    first slot with a place left, through the hub's public page; returns the code shown."""
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(hub.url + "/dat-lich")
    assert page.locator("html").get_attribute("lang") == "vi"
    page.click("#places a")
    page.click('#services a[data-service="CT"]')
    page.locator(f'#days a[data-day="{day}"]' if day else "#days a").first.click()
    page.locator("#slots label.slot:not(.full)").first.click()
    page.fill("input[name=name]", name)
    page.fill("input[name=phone]", phone)
    page.click("button.primary")
    code = page.locator("#code").get_attribute("data-code")
    assert code and len(code) == 6 and set(code) <= ALPHABET
    return code


@pytest.mark.browser
def test_a_citizen_books_on_the_page_the_center_gets_it_and_a_cancel_follows(page, world):
    hub, center, _ = world
    code = book_on_the_page(page, hub, "Trần Thị <b>Bình</b>", "0912 345 678", _tomorrow())
    assert page.text_content("#code").strip() == f"{code[:3]} {code[3:]}"
    assert "Trần Thị <b>Bình</b>" in page.text_content("main")  # shown as typed, never as markup
    shot = Image.open(io.BytesIO(page.locator("#qr svg").screenshot()))
    assert [b.text for b in zxingcpp.read_barcodes(shot)] == [code]
    status, origin, site, service, slot_at = _wait_center(center.db, code, "booked")  # flowed down
    assert (origin, site, service) == ("hub", "main", "CT") and slot_at.endswith("Z")

    page.goto(hub.url + "/dat-lich/huy")
    page.fill("input[name=code]", code.lower())
    page.fill("input[name=phone]", "0912000000")  # not the booking's phone
    page.click("button.primary")
    assert "Không tìm thấy" in page.text_content("#error")
    page.fill("input[name=phone]", "+84 912 345 678")
    page.click("button.primary")
    assert code in page.text_content("#cancelled")
    _wait_center(center.db, code, "cancelled")  # the cancellation flowed down too


def test_a_person_may_book_twice_a_day_and_is_told_so_the_third_time(world):
    hub, center, api = world
    day = _tomorrow(2)
    free = [s for s in _slots(hub, api, day) if s["left"] > 0]
    s = requests.Session()
    for slot in free[:2]:
        r = _book_form(s, hub, slot["slot_at"], "0987654321", day)
        assert r.status_code == 200 and 'id="code"' in r.text, r.text[:800]
    r = _book_form(s, hub, free[2]["slot_at"], "098 765 4321", day)
    assert r.status_code == 409
    assert "Mỗi người chỉ được đặt tối đa 2 lịch hẹn mỗi ngày" in r.text
    r = _book_form(s, hub, free[2]["slot_at"], "0987654322", day)  # another person
    assert r.status_code == 200 and 'id="code"' in r.text
    r = s.post(hub.url + "/dat-lich", data={"place": PLACE, "service": "CT", "slot_at": free[3]["slot_at"],
                                            "phone": "0911111111"}, timeout=10)
    assert r.status_code == 403  # no CSRF token


def test_a_full_slot_is_refused_and_the_api_books_looks_up_and_cancels(world, pg_db):  # noqa: F811
    hub, center, api = world
    day = _tomorrow(3)
    slot = _slots(hub, api, day)[4]
    assert slot["left"] == slot["capacity"] > 0
    body = {"center": "hoabinh", "site": "main", "service": "CT", "slot_at": slot["slot_at"], "name": "Hệ thống"}
    assert requests.post(hub.url + "/hub/api/bookings", json=body, timeout=10).status_code == 401
    bad = {"Authorization": "Bearer xs_not-a-token"}
    r = requests.post(hub.url + "/hub/api/bookings", json=body, headers=bad, timeout=10)
    assert r.status_code == 401 and set(r.json()) == {"error", "message", "message_en"}
    codes = []
    for _ in range(slot["capacity"]):
        r = requests.post(hub.url + "/hub/api/bookings", json=body, headers=api, timeout=10)
        assert r.status_code == 201, r.text
        codes.append(r.json()["code"])
    r = requests.post(hub.url + "/hub/api/bookings", json=body, headers=api, timeout=10)
    assert r.status_code == 409 and r.json()["error"] == "slot_full" and r.json()["message"], r.text
    page = _book_form(requests.Session(), hub, slot["slot_at"], "0933333333", day)
    assert page.status_code == 409 and "Khung giờ này đã hết chỗ" in page.text
    assert [s for s in _slots(hub, api, day) if s["slot_at"] == slot["slot_at"]][0]["left"] == 0

    got = requests.get(hub.url + f"/hub/api/bookings/{codes[0]}", headers=api, timeout=10).json()
    assert (got["status"], got["service"], got["slot_at"], got["center"]) == ("booked", "CT", slot["slot_at"],
                                                                               "hoabinh")
    assert requests.get(hub.url + f"/hub/api/bookings/{codes[0]}", timeout=10).status_code == 401
    r = requests.post(hub.url + f"/hub/api/bookings/{codes[0]}/cancel", headers=api, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    r = requests.post(hub.url + f"/hub/api/bookings/{codes[0]}/cancel", headers=api, timeout=10)
    assert r.status_code == 409 and r.json()["error"] == "already_cancelled"
    assert requests.get(hub.url + "/hub/api/bookings/ZZZZZZ", headers=api, timeout=10).status_code == 404
    _wait_center(center.db, codes[1], "booked")
    assert _center_booking(center.db, codes[1])[1] == "hub"  # made at the hub, by a system
    _wait_center(center.db, codes[0], "cancelled")
    doc = requests.get(hub.url + "/hub/api/openapi.json", timeout=10).json()
    assert {"/hub/api/bookings", "/hub/api/bookings/{code}", "/hub/api/bookings/{code}/cancel"} <= set(doc["paths"])
    with psycopg.connect(pg_db) as conn:  # no phone number anywhere in the hub's database
        assert conn.execute("SELECT count(*) FROM hub_bookings WHERE phone_hash LIKE '%0912%'").fetchone()[0] == 0


def test_the_province_report_counts_bookings_per_center(world, pg_db):  # noqa: F811
    """The report counts what happened to each booking at its center: a cancellation at the hub (down, then back
    up) and one at the center's desk (up) are both there. Self-contained on a day of its own: pytest runs every
    module's browser tests together (`[chromium]` is a session-scoped parameter), so in a full run this module's
    `world` is made twice and the browser test's booking is not in the second one's database."""
    hub, center, api = world
    add_hub_user(hub.config, "tinh-booking", "province")
    prov = hub_session(hub.url, "tinh-booking")
    day = _tomorrow(5)
    free = [s for s in _slots(hub, api, day) if s["left"] > 0]
    codes = []
    for i in range(4):
        body = {"center": "hoabinh", "site": "main", "service": "CT", "slot_at": free[i]["slot_at"]}
        r = requests.post(hub.url + "/hub/api/bookings", json=body, headers=api, timeout=10)
        assert r.status_code == 201, r.text
        codes.append(r.json()["code"])
    r = requests.post(hub.url + f"/hub/api/bookings/{codes[0]}/cancel", headers=api, timeout=10)
    assert r.status_code == 200, r.text
    _wait_center(center.db, codes[1], "booked")
    r = center.post(f"/api/bookings/{codes[1]}/cancel", who="staff1")  # at the center's desk
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    deadline = time.monotonic() + 60  # generous: the suite runs beside other servers on two cores
    while True:  # the center's copies come back up with its records
        rep = prov.get(hub.url + f"/hub/api/report?from={day}&to={day}", timeout=10).json()
        row = {r["key"]: r for r in rep["bookings"]["rows"]}.get("hoabinh", {})
        got = (row.get("made"), row.get("cancelled"), row.get("kept"), row.get("no_show"))
        if got == (4, 2, 0, 0) or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    with psycopg.connect(pg_db) as conn:
        synced = conn.execute("SELECT code, status FROM bookings WHERE center = 'hoabinh' AND service_day = %s "
                              "ORDER BY code", (day,)).fetchall()
    assert got == (4, 2, 0, 0), (got, synced)
    assert {c for c, st in synced if st == "cancelled"} == set(codes[:2]), synced
    page = prov.get(hub.url + f"/hub/reports?from={day}&to={day}", timeout=10).text
    assert 'id="bookings"' in page and "Lịch đã đặt" in page


def test_behind_the_provinces_proxy_each_citizen_has_their_own_limit(world):
    """The hub sits behind nginx (docs/deploy.md): every request comes from the proxy, which names the citizen in
    X-Real-IP. A flood from one citizen is refused (429, in Vietnamese) without refusing the others."""
    hub, _, _ = world
    flood = requests.Session()
    flood.headers["X-Real-IP"] = "10.9.0.1"
    # twice the minute's limit and one: past it within one minute even if a minute boundary falls between
    codes = [flood.get(hub.url + "/dat-lich", timeout=10).status_code for _ in range(2 * PAGE_PER_MIN + 1)]
    assert codes.count(429) >= 1 and set(codes) == {200, 429}
    refused = flood.get(hub.url + "/dat-lich", timeout=10)
    if refused.status_code == 429:  # (unless a new minute just began)
        assert "Quá nhiều yêu cầu" in refused.text
    other = requests.get(hub.url + "/dat-lich", headers={"X-Real-IP": "10.9.0.2"}, timeout=10)
    assert other.status_code == 200
    assert requests.get(hub.url + "/dat-lich", timeout=10).status_code == 200  # the proxy's own address too


def test_trusted_proxies_are_read_from_hub_toml(tmp_path):
    path = hub_config(tmp_path, "host=127.0.0.1")
    assert load_hub_config(path).trusted_proxies == ("127.0.0.1", "::1")
    path.write_text(path.read_text().replace("[hub]\n", '[hub]\ntrusted_proxies = ["10.0.0.0/8"]\n', 1))
    assert load_hub_config(path).trusted_proxies == ("10.0.0.0/8",)
    path.write_text(path.read_text().replace('"10.0.0.0/8"', '"proxy.tinh"'))
    with pytest.raises(ConfigError, match="trusted_proxies"):
        load_hub_config(path)
