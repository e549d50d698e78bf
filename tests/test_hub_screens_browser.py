"""The hub's screens as a province officer and a citizen see them (issue items 16–19), in Chromium against a real
hub process on a real PostgreSQL. The hub's state is written straight into its database (labels as the centers'
own labels.build makes them, tickets, hub_daily rebuilt by the hub's own summary), so no test here depends on
another module's server or on a center's push timing."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests
from playwright.sync_api import expect

from tests.conftest import DEMO_CONFIG, PASSWORD
from tests.hub_pages_support import add_hub_user, hub_session
from tests.hub_support import HubServer, center_with_hub, hub_cli, hub_config
from tests.pg_support import pg, pg_db  # noqa: F401 - fixtures

VN = ZoneInfo("Asia/Ho_Chi_Minh")
LONG_WAIT_S = 800_000  # 222 h 13 min 20 s: a wait over an hour, as a long-range report can hold
VN_DATE = r"\d{2}/\d{2}/\d{4}"


def _labels(path) -> dict:
    from center.config.read import load_config
    from center.sync.labels import build

    return build(load_config(path))


def _ticket(conn, center: str, tid: int, site: str, day, status: str, at: datetime, wait: float | None) -> None:
    from center.hub.schema import partition_ddl

    conn.execute(partition_ddl("tickets", day))
    conn.execute("INSERT INTO tickets (center, id, site, service, service_day, status, issued_at, queue_at, wait_s) "
                 "VALUES (%s, %s, %s, 'CT', %s, %s, %s, %s, %s)", (center, tid, site, day, status, at, at, wait))


@pytest.fixture(scope="module")
def hub(tmp_path_factory, pg_db):  # noqa: F811
    """Two centers whose labels carry the same name (Tân Lập set up from Hòa Bình's config.toml), past days of
    figures (Hòa Bình 10 days ago, Tân Lập 5 days ago with one wait of 222 h), a citizen waiting 2 h now."""
    from center.hub.summary import rebuild

    tmp = tmp_path_factory.mktemp("hub-screens")
    server = HubServer(hub_config(tmp, pg_db)).start()
    add_hub_user(server.config, "so-noi-vu", "province")
    now = datetime.now(UTC)
    today = now.astimezone(VN).date()
    hoabinh, tanlap = _labels(DEMO_CONFIG), _labels(center_with_hub(tmp, server.url, "tanlap"))
    assert hoabinh["center_name"] == tanlap["center_name"]  # the copied config: the case of item 16
    with psycopg.connect(pg_db, autocommit=True) as conn:
        for center, lab in (("hoabinh", hoabinh), ("tanlap", tanlap)):
            conn.execute("INSERT INTO hub_labels (center, hash, labels, at) VALUES (%s, %s, %s, %s)",
                         (center, lab["hash"], json.dumps(lab, ensure_ascii=False), now))
        old = today - timedelta(days=10)
        for i, wait in enumerate((60.0, 120.0, 180.0)):
            _ticket(conn, "hoabinh", 1 + i, "main", old, "served", datetime.combine(old, datetime.min.time(), VN)
                    .replace(hour=9), wait)
        five = today - timedelta(days=5)
        _ticket(conn, "tanlap", 1, "tl-main", five, "served", datetime.combine(five, datetime.min.time(), VN)
                .replace(hour=9), float(LONG_WAIT_S))
        _ticket(conn, "hoabinh", 10, "main", today, "waiting", now - timedelta(hours=2, seconds=30), None)
        with conn.transaction():
            rebuild(conn, "hoabinh", [old, today])
            rebuild(conn, "tanlap", [five])
    try:
        yield server
    finally:
        server.stop()


def _sign_in(page, hub) -> None:
    page.goto(hub.url + "/hub/login")
    page.fill("input[name=username]", "so-noi-vu")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/hub/$"))


def test_a_center_name_two_centers_send_gives_way_to_the_provinces_register():
    from center.hub.config import HubCenter, HubConfig
    from center.hub.names import names_from

    cfg = HubConfig(name="T", name_en="T", timezone="Asia/Ho_Chi_Minh", dsn="", centers=(
        HubCenter("a", "PVHCC Hòa Bình", ("m",)), HubCenter("b", "PVHCC Tân Lập", ("t",)),
        HubCenter("c", "PVHCC Tân Hòa", ("x",))))
    same = {"center_name": "Trung tâm phường Hòa Bình", "center_name_en": "Hoa Binh center"}
    labels = {"a": same, "b": same, "c": {"center_name": "Trung tâm phường Tân Hòa"}}
    assert names_from(cfg.centers, labels) == {"a": "PVHCC Hòa Bình", "b": "PVHCC Tân Lập",
                                               "c": "Trung tâm phường Tân Hòa"}
    assert names_from(cfg.centers, labels, en=True)["b"] == "PVHCC Tân Lập"
    assert names_from(cfg.centers[:1], {"a": {"center_name": "Own A"}})["a"] == "Own A"
    assert names_from(cfg.centers[1:2], labels)["b"] == "PVHCC Tân Lập"  # shared with a center not listed


@pytest.mark.browser
def test_booking_page_names_each_center_and_the_confirmation_the_center_and_day_booked(page, hub):
    page.goto(hub.url + "/dat-lich")
    places = page.locator("#places li a")
    expect(places).to_have_count(4)
    assert page.locator('#places a[href*="tanlap"]').first.inner_text().startswith("Trung tâm PVHCC phường Tân Lập")
    assert "Hòa Bình" not in " ".join(page.locator('#places a[href*="tanlap"]').all_inner_texts())
    page.locator('#places a[href="?place=tanlap%3Atl-main"]').click()
    expect(page.locator(".crumb").first).to_contain_text("Tân Lập")
    page.locator('#services a[data-service="CT"]').click()
    day = page.locator("#days a").nth(1)  # tomorrow: every slot still ahead
    assert re.fullmatch(r"(thứ (Hai|Ba|Tư|Năm|Sáu|Bảy)|Chủ nhật), " + VN_DATE, day.inner_text()), day.inner_text()
    iso = day.get_attribute("data-day")
    day.click()
    page.locator("#slots input:not([disabled])").first.check()
    page.fill("input[name=phone]", "0912345678")
    page.click("button.primary")
    expect(page.locator("#code")).to_be_visible()
    where = page.locator("dl.summary dd").first.inner_text()
    assert "Tân Lập" in where and "Hòa Bình" not in where, where
    assert "Điểm tiếp nhận số 1" in where
    when = page.locator("#when").inner_text()
    y, m, d = iso.split("-")
    assert f"{d}/{m}/{y}" in when and iso not in when, when


def test_the_booking_api_names_the_center_booked_too(hub):
    """The province's other systems (SMS, the portal) tell the citizen where to go from the API's center_name."""
    api = {"Authorization": "Bearer " + hub_cli(hub.config, "api-token", "cong-dich-vu").strip().splitlines()[-1]}
    tomorrow = (datetime.now(VN).date() + timedelta(days=1)).isoformat()
    slots = requests.get(hub.url + "/hub/api/booking-slots", headers=api, timeout=10, params={
        "center": "tanlap", "site": "tl-main", "service": "CT", "day": tomorrow}).json()["slots"]
    free = [x for x in slots if x["left"] > 0]
    body = {"center": "tanlap", "site": "tl-main", "service": "CT", "slot_at": free[-1]["slot_at"],
            "phone": "0987654321"}
    made = requests.post(hub.url + "/hub/api/bookings", json=body, headers=api, timeout=10)
    assert made.status_code == 201, made.text
    assert made.json()["center_name"] == "Trung tâm PVHCC phường Tân Lập"
    got = requests.get(hub.url + f"/hub/api/bookings/{made.json()['code']}", headers=api, timeout=10).json()
    assert got["center_name"] == "Trung tâm PVHCC phường Tân Lập" and got["service_day"] == tomorrow  # ISO in JSON


@pytest.mark.browser
def test_reports_open_on_the_last_30_days_with_names_and_hours(page, hub):
    _sign_in(page, hub)
    page.goto(hub.url + "/hub/reports")
    expect(page.locator("#sum-issued")).to_have_text("5")  # 3 + 1 past days, 1 today: not today's 1 alone
    today = datetime.now(VN).date()
    start = today - timedelta(days=29)
    expect(page.locator("#range")).to_have_text(f"Từ ngày {start:%d/%m/%Y} đến ngày {today:%d/%m/%Y}")
    sites = page.locator("select[name=site] option").all_inner_texts()
    assert "Trung tâm PVHCC phường Tân Lập · Điểm tiếp nhận số 1 – Trụ sở phường" in sites, sites
    assert not {"main", "branch", "tl-main", "tl-branch"} & set(sites), sites
    services = page.locator("select[name=service] option").all_inner_texts()
    assert "Chứng thực" in services and "CT" not in services, services
    tanlap = page.locator("#rows tbody tr", has_text="Tân Lập")
    expect(tanlap.locator("td").nth(4)).to_have_text("222:13:20")  # the wait mean, as the center's report writes it
    page.goto(hub.url + "/hub/reports?group=day")
    days = page.locator("#rows tbody tr td:first-child").all_inner_texts()
    assert days and all(re.fullmatch(VN_DATE, d) for d in days), days


def test_report_exports_keep_days_iso_in_their_data_columns(hub):
    """The page writes 07/12/2026; the CSV's day column stays ISO, as the center's exports keep data columns."""
    s = hub_session(hub.url, "so-noi-vu")
    text = s.get(hub.url + "/hub/reports.csv?group=day", timeout=10).content.decode("utf-8-sig")
    five = (datetime.now(VN).date() - timedelta(days=5)).isoformat()
    assert five in text and re.search(VN_DATE, text) is None, text[:800]


@pytest.mark.browser
def test_live_panel_writes_times_in_the_centers_zone_24h_and_waits_with_units(browser, hub):
    context = browser.new_context(timezone_id="America/New_York", locale="en-US")  # a PC set to elsewhere
    try:
        page = context.new_page()
        _sign_in(page, hub)
        expect(page.locator('#live tr[data-center="hoabinh"] td.waiting')).to_have_text("1", timeout=15000)
        updated = page.locator("#updated").inner_text()
        got = re.fullmatch(r"Cập nhật lúc (\d{2}):(\d{2}):(\d{2}) (" + VN_DATE + ")", updated)
        assert got, updated
        now = datetime.now(VN)
        assert int(got.group(1)) in (now.hour, (now - timedelta(minutes=1)).hour), updated
        assert got.group(4) in (f"{now:%d/%m/%Y}", f"{now - timedelta(minutes=1):%d/%m/%Y}"), updated
        longest = page.locator('#live tr[data-center="hoabinh"] td').nth(2).inner_text()
        assert re.fullmatch(r"2 giờ 0 phút", longest), longest
        expect(page.locator('#live tr[data-center="tanlap"] td').nth(2)).to_have_text("0 giây")
    finally:
        context.close()


@pytest.mark.browser
def test_an_unknown_address_is_a_page_for_a_browser_and_json_for_an_api_client(page, hub):
    resp = page.goto(hub.url + "/hub/nope")
    assert resp.status == 404 and resp.headers["content-type"].startswith("text/html")
    expect(page.locator("#error-page h1")).to_have_text("Không tìm thấy trang")
    expect(page.locator("#error-page a").first).to_have_attribute("href", "/hub/")
    page.goto(hub.url + "/dat-lich/nope")
    expect(page.locator("#error-page a").first).to_have_attribute("href", "/dat-lich")
    api = requests.get(hub.url + "/hub/nope", headers={"Accept": "application/json"}, timeout=10)
    assert api.status_code == 404 and api.json()["error"] == "not_found"
    assert api.json()["message"] == "Không tìm thấy trang hoặc dữ liệu này" and api.json()["message_en"]
    plain = requests.get(hub.url + "/hub/api/nope", headers={"Accept": "text/html"}, timeout=10)
    assert plain.status_code == 404 and plain.json()["error"] == "not_found"  # a JSON route stays JSON


@pytest.mark.browser
def test_the_hub_screens_have_no_serious_accessibility_finding(browser, hub):
    """axe-core (tests/test_accessibility.py's rule: no critical or serious violation) on each changed hub screen."""
    from tests.test_accessibility import AXE, BLOCKING, axe

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(path=str(AXE))
    try:
        page = context.new_page()
        found = {}
        for path in ("/dat-lich", "/dat-lich?place=tanlap%3Atl-main&service=CT", "/hub/nope"):
            page.goto(hub.url + path)
            found[path] = [v for v in axe(page) if v["impact"] in BLOCKING]
        _sign_in(page, hub)
        expect(page.locator('#live tr[data-center="hoabinh"] td.waiting')).to_have_text("1", timeout=15000)
        found["/hub/"] = [v for v in axe(page) if v["impact"] in BLOCKING]
        page.goto(hub.url + "/hub/reports")
        found["/hub/reports"] = [v for v in axe(page) if v["impact"] in BLOCKING]
        assert not any(found.values()), {k: v for k, v in found.items() if v}
    finally:
        context.close()
