"""View-level checks through Flask's test client (fixture `web`): the real app factory, a real SQLite file and the
demo config, in this process. Who may do what, and the shape of every error, without a server process.

The same rules are exercised end to end over HTTP by test_api.py and test_security.py; these run in a second.
"""

from __future__ import annotations

import pytest

TICKET = {"site": "main", "service": "CT"}


def assert_json_error(r, status: int, code: str | None = None) -> dict:
    """A JSON error as the API promises: status, `error` code, Vietnamese `message` and English `message_en`."""
    assert r.status_code == status, r.get_data(as_text=True)[:300]
    assert r.content_type == "application/json"
    body = r.get_json()
    assert set(body) >= {"error", "message", "message_en"}, body
    assert body["message"] and body["message_en"] and body["message"] != body["message_en"]
    if code:
        assert body["error"] == code, body
    return body


@pytest.mark.parametrize(("method", "path", "who", "json", "status", "code"), [
    ("post", "/api/tickets", "main-hall", TICKET, 403, "forbidden"),            # a display only reads
    ("post", "/api/tickets", "branch-kiosk-1", TICKET, 403, "wrong_site"),      # a kiosk issues at its own site
    ("post", "/api/counters/main-1/call-next", "main-kiosk-1", None, 403, "forbidden"),
    ("post", "/api/sites/main/close-day", "staff1", None, 403, "forbidden"),    # closing the day: managers
    ("get", "/api/audit?site=main", "staff1", None, 403, "forbidden"),
    ("post", "/api/counters/main-1/call-next", None, None, 401, None),          # nobody: sign in first
])
def test_each_role_is_refused_what_it_may_not_do_with_a_json_error(web, method, path, who, json, status, code):
    r = getattr(web, method)(path, who=who, json=json)
    assert_json_error(r, status, code)


def test_a_refused_action_changes_nothing(web):
    web.post("/api/tickets", who="main-kiosk-1", json=TICKET)
    assert_json_error(web.post("/api/sites/main/close-day", who="staff1"), 403)
    queue = web.get("/api/queue?site=main", who="staff1").get_json()
    assert {s["code"]: s["waiting"] for s in queue["services"]}["CT"] == 1, queue
    assert web.post("/api/sites/main/close-day", who="manager").get_json()["cancelled"] == 1


def test_a_revoked_or_made_up_token_is_401_not_a_guess(web):
    r = web.get("/api/queue?site=main", who=None, headers={"Authorization": "Bearer xh_made-up"})
    assert_json_error(r, 401, "bad_token")


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), [
    ("post", "/api/tickets", {"data": "{not json", "content_type": "application/json"}, 400, "bad_json"),
    ("post", "/api/tickets", {"json": {"site": "main", "service": "ZZ"}}, 422, "unknown_service"),
    ("post", "/api/tickets", {"data": "x" * 300_000, "content_type": "application/json"}, 413, None),
    ("get", "/api/no-such-route", {}, 404, "not_found"),
    ("get", "/api/tickets", {}, 405, None),
])
def test_bad_requests_get_a_bilingual_json_error_never_a_500(web, method, path, kwargs, status, code):
    r = getattr(web, method)(path, who="main-kiosk-1", **kwargs)
    assert_json_error(r, status, code)


def test_a_screen_refused_gets_a_vietnamese_page_and_a_script_gets_json(web):
    page = web.get("/manager/", who="staff1")
    assert page.status_code == 403 and page.content_type.startswith("text/html")
    html = page.get_data(as_text=True)
    assert '<html lang="vi"' in html and "Traceback" not in html
    assert_json_error(web.get("/manager/", who="staff1", headers={"Accept": "application/json"}), 403, "forbidden")


def test_a_signed_in_staff_member_acts_only_with_the_csrf_token(web):
    web.post("/api/tickets", who="main-kiosk-1", json=TICKET)
    token = web.sign_in("staff1")
    assert_json_error(web.post("/api/counters/main-1/call-next", who=None), 400, "csrf_failed")
    r = web.post("/api/counters/main-1/call-next", who=None, headers={"X-CSRFToken": token})
    assert r.status_code == 200 and r.get_json()["number"] == "A001", r.get_data(as_text=True)[:300]
    # The cookie carries the role of the person, not more: a staff session cannot close the day either.
    assert_json_error(web.post("/api/sites/main/close-day", who=None, headers={"X-CSRFToken": token}), 403)
