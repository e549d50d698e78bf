"""Wrong booking codes are limited per caller and per site (issue 25 item 5: 300 random codes in a row at a kiosk,
300 × 404, never refused; a hit prints that citizen's ticket and takes their booking)."""

from __future__ import annotations

from datetime import UTC, datetime

from center.queue import code_limits
from center.queue.bookings import ALPHABET
from center.queue.clock import to_iso

KIOSK = "/kiosk/main-kiosk-1/check-in"
SLOT = to_iso(datetime(2026, 11, 23, 2, 30, tzinfo=UTC))  # today's 09:30 slot for the test clock


def book(web) -> str:
    r = web.post("/api/bookings", who="staff1", json={"site": "main", "service": "CT", "slot_at": SLOT})
    assert r.status_code == 201, r.get_data(as_text=True)
    return r.get_json()["code"]


def wrong_codes(n: int, start: int = 0):
    """Well-formed codes that are nobody's (the booking codes are random: these are not among them)."""
    return [("ZZ" + ALPHABET[(start + i) // 31 % 31] + ALPHABET[(start + i) % 31] + "ZZ") for i in range(n)]


def kiosk_try(web, code):
    return web.post(KIOSK, who="main-kiosk-1", json={"code": code})


def test_the_kiosk_refuses_the_6th_wrong_code_in_a_minute_and_a_right_code_works_after_the_pause(web, clock):
    right = book(web)
    answers = [kiosk_try(web, c) for c in wrong_codes(5)]
    assert [r.status_code for r in answers] == [404] * 5
    assert all(r.get_json()["error"] == "unknown_booking" for r in answers)
    assert "Nhập sai quá nhiều lần – vui lòng chờ 30 giây hoặc hỏi cán bộ" in answers[4].get_json()["message"]
    r = kiosk_try(web, wrong_codes(1, 40)[0])
    assert r.status_code == 429
    body = r.get_json()
    assert body["error"] == "too_many_codes" and body["retry_after"] == 30
    assert body["message"] == "Nhập sai quá nhiều lần – vui lòng chờ 30 giây hoặc hỏi cán bộ"
    assert body["message_en"] == "Too many wrong codes – please wait 30 s or ask staff"
    assert r.headers["Retry-After"] == "30"
    assert kiosk_try(web, right).status_code == 429  # during the pause nothing is looked up, not even a right code
    clock.advance(seconds=31)
    r = kiosk_try(web, right)
    assert r.status_code == 201, r.get_data(as_text=True)
    assert r.get_json()["ticket"]["booking"]["code"] == right


def test_a_right_code_typed_within_the_limit_is_never_refused_and_clears_the_count(web, clock):
    first, second = book(web), book(web)
    assert [kiosk_try(web, c).status_code for c in wrong_codes(4)] == [404] * 4
    assert kiosk_try(web, first).status_code == 201
    # The next citizen at this kiosk starts from zero: four typos and their own code still pass.
    assert [kiosk_try(web, c).status_code for c in wrong_codes(4, 10)] == [404] * 4
    assert kiosk_try(web, second).status_code == 201


def test_wrong_codes_spread_over_more_than_a_minute_are_not_paused(web, clock):
    assert [kiosk_try(web, c).status_code for c in wrong_codes(4)] == [404] * 4
    clock.advance(seconds=61)
    assert [kiosk_try(web, c).status_code for c in wrong_codes(4, 10)] == [404] * 4


def test_each_further_pause_within_the_hour_doubles(web, clock):
    for n, pause in ((0, 30), (10, 60), (20, 120)):
        for c in wrong_codes(5, n):
            kiosk_try(web, c)
        r = kiosk_try(web, "ZZZZZZ")
        assert r.status_code == 429 and r.get_json()["retry_after"] == pause, r.get_json()
        clock.advance(seconds=pause + 1)


def test_the_api_check_in_route_is_limited_the_same(web, clock):
    right = book(web)
    answers = [web.post(f"/api/bookings/{c}/check-in", who="staff1").status_code for c in wrong_codes(6)]
    assert answers == [404] * 5 + [429]
    r = web.post(f"/api/bookings/{right}/check-in", who="staff1")
    assert r.status_code == 429 and r.get_json()["error"] == "too_many_codes"
    # Another caller is not paused by staff1's wrong codes.
    assert web.post(f"/api/bookings/{right}/check-in", who="main-kiosk-1").status_code == 201


def test_a_site_has_a_higher_cap_over_all_its_callers(web, clock):
    c = web.app.extensions["xephang"]
    tokens = [c.accounts.create_token(device=f"main-kiosk-x{i}", role="kiosk", site="main") for i in range(4)]
    right = book(web)
    codes = iter(wrong_codes(30))
    statuses = []
    for token in tokens:  # 4 wrong each: no caller reaches 5, the site reaches 15
        for _ in range(4):
            statuses.append(web.client.post(f"/api/bookings/{next(codes)}/check-in",
                                            headers={"Authorization": f"Bearer {token}"}).status_code)
    assert statuses[:15] == [404] * 15 and statuses[15] == 429
    r = kiosk_try(web, right)  # every kiosk of the site waits out the site's pause
    assert r.status_code == 429 and r.get_json()["retry_after"] == 30
    clock.advance(seconds=31)
    assert kiosk_try(web, right).status_code == 201


def test_a_pause_is_in_the_audit_log_and_on_the_desk_warning(web, clock):
    for code in wrong_codes(5):
        kiosk_try(web, code)
    c = web.app.extensions["xephang"]
    with c.store.read() as conn:
        rows = [dict(r) for r in conn.execute("SELECT actor, role, action, target, detail FROM audit_log "
                                              "WHERE action = 'booking.code_locked'")]
    assert len(rows) == 1 and rows[0]["actor"] == "main-kiosk-1" and rows[0]["target"] == "main-kiosk-1"
    assert '"pause_s": 30' in rows[0]["detail"] and '"wrong": 5' in rows[0]["detail"]
    r = web.get("/desk/main/code-alerts", who="staff1")
    assert r.status_code == 200
    alerts = r.get_json()["alerts"]
    assert len(alerts) == 1 and alerts[0]["active"] is True and alerts[0]["caller"] == "main-kiosk-1"
    assert alerts[0]["caller_name"] == c.config.kiosk("main-kiosk-1").name and alerts[0]["retry_after"] == 30
    for who, status in (("main-kiosk-1", 403), ("main-hall", 403), (None, 401)):
        assert web.get("/desk/main/code-alerts", who=who).status_code == status
    clock.advance(minutes=61)
    assert web.get("/desk/main/code-alerts", who="staff1").get_json()["alerts"] == []


def test_the_limits_live_in_the_database_not_in_a_process(web, clock, tmp_path):
    """Another process on the same database (here: a second app on the same file, as a second gunicorn worker)
    refuses the kiosk too."""
    from center.app import create_app
    from tests.conftest import DEMO_CONFIG

    for code in wrong_codes(5):
        kiosk_try(web, code)
    other = create_app(str(DEMO_CONFIG), str(tmp_path / "center.sqlite3"), clock=clock, housekeeping=False)
    try:
        r = other.test_client().post(KIOSK, json={"code": "ZZZZZZ"},
                                     headers={"Authorization": f"Bearer {web.tokens['main-kiosk-1']}"})
        assert r.status_code == 429 and r.get_json()["error"] == "too_many_codes"
    finally:
        other.extensions["xephang"].store.close()
    with web.app.extensions["xephang"].store.read() as conn:
        assert conn.execute("SELECT count(*) FROM login_limits WHERE key = ? AND locked_until IS NOT NULL",
                            (f"{code_limits.PREFIX}main:dev:main-kiosk-1",)).fetchone()[0] == 1
