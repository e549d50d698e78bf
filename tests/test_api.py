"""The JSON API against a real server process: success shapes, every error path, roles, CSRF, OpenAPI."""

from __future__ import annotations

import re

import pytest
import requests

from .conftest import PASSWORD, server_with_accounts


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory, accounts_template):
    """One server for the read-only and error-path tests of this module (they change no state)."""
    server = server_with_accounts(tmp_path_factory.mktemp("api"), accounts_template)
    yield server
    server.stop()


def issue(server, who="admin", **body):
    return server.post("/api/tickets", who=who, json={"site": "main", "service": "CT", **body})


def assert_error(resp, status, code=None):
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) >= {"error", "message", "message_en"}
    assert body["message"] and "Traceback" not in resp.text
    if code:
        assert body["error"] == code
    return body


def test_health_sites_services_queue(server):
    assert server.get("/api/health", who=None).json()["status"] == "ok"
    sites = server.get("/api/sites", who=None).json()
    main = next(s for s in sites["sites"] if s["code"] == "main")
    assert any(p["code"] == "CT-BS" for s in main["services"] for p in s["procedures"])
    assert [c["id"] for c in main["counters"]][:2] == ["main-1", "main-2"]
    assert len(sites["priority_groups"]) >= 4
    services = server.get("/api/services?site=branch", who=None).json()["services"]
    assert "DD" not in [s["code"] for s in services]
    queue = server.get("/api/queue?site=main", who=None).json()
    assert {s["code"] for s in queue["services"]} >= {"CT", "HT"} and len(queue["counters"]) == 6


def test_issue_returns_the_promised_fields(server):
    r = issue(server, priority="elderly")
    assert r.status_code == 201
    t = r.json()
    for key in ("id", "number", "service", "priority", "status", "issued_at", "ahead", "estimated_wait_s"):
        assert key in t
    assert re.fullmatch(r"A\d{3}", t["number"]) and t["status"] == "waiting" and t["priority"] == "elderly"
    assert server.get(f"/api/tickets/{t['id']}").json()["number"] == t["number"]


def test_kiosk_issues_only_at_its_own_site(server):
    assert issue(server, who="main-kiosk-1").status_code == 201
    assert_error(server.post("/api/tickets", who="branch-kiosk-1", json={"site": "main", "service": "CT"}), 403,
                 "wrong_site")


def test_call_next_204_then_full_visit(server):
    assert server.post("/api/counters/main-5/call-next", who="staff1").status_code == 204
    t = issue(server).json()
    called = server.post("/api/counters/main-1/call-next", who="staff1").json()
    assert called["id"] == t["id"] and called["counter"]["number"] == 1
    assert server.post("/api/counters/main-1/recall", who="staff1", json={"ticket": t["id"]}).json()["call_count"] == 2
    assert server.post("/api/counters/main-1/start", who="staff1").json()["status"] == "serving"
    assert server.post("/api/counters/main-1/procedure", who="staff1", json={"procedure": "CT-BS"}).ok
    done = server.post("/api/counters/main-1/finish", who="staff1",
                       json={"procedures": ["CT-BS", {"code": "CT-CK", "seconds": 60}]}).json()
    assert done["status"] == "served"
    assert [p["code"] for p in done["procedures"]] == ["CT-BS", "CT-CK"]
    assert all(p["seconds"] >= 0 for p in done["procedures"])


def test_transfer_pause_resume_no_show_call_specific(server):
    t = issue(server).json()
    server.post("/api/counters/main-1/call-next", who="staff1")
    moved = server.post("/api/counters/main-1/transfer", who="staff1", json={"service": "HT", "note": "khai sinh"})
    assert moved.status_code == 200 and moved.json()["service"] == "HT"
    paused = server.post("/api/counters/main-1/pause", who="staff1", json={"reason": "break"})
    assert paused.json()["status"] == "paused"
    assert server.post("/api/counters/main-1/resume", who="staff1").json()["status"] == "open"
    second = issue(server).json()
    called = server.post("/api/counters/main-1/call", who="staff1", json={"number": second["number"]}).json()
    assert called["id"] == second["id"]
    assert server.post("/api/counters/main-1/no-show", who="staff1").json()["status"] == "no_show"
    assert server.get(f"/api/tickets/{t['id']}").json()["status"] == "transferred"


@pytest.mark.parametrize(("method", "path", "body", "status", "code"), [
    ("post", "/api/tickets", None, 422, "missing_field"),
    ("post", "/api/tickets", {"site": "main"}, 422, "missing_field"),
    ("post", "/api/tickets", {"site": "main", "service": 5}, 422, "bad_field"),
    ("post", "/api/tickets", {"site": "main", "service": "ZZ"}, 422, "unknown_service"),
    ("post", "/api/tickets", {"site": "mars", "service": "CT"}, 404, "unknown_site"),
    ("post", "/api/tickets", {"site": "main", "service": "CT", "priority": "vip"}, 422, "unknown_priority"),
    ("get", "/api/tickets/999999", None, 404, "unknown_ticket"),
    ("get", "/api/queue", None, 422, "missing_field"),
    ("get", "/api/queue?site=mars", None, 404, "unknown_site"),
    ("post", "/api/counters/nope/call-next", None, 404, "unknown_counter"),
    ("post", "/api/counters/main-1/finish", {"procedures": "CT-BS"}, 422, "bad_field"),
    ("post", "/api/counters/main-1/recall", None, 409, "no_current_ticket"),
    ("post", "/api/counters/main-1/resume", None, 409, "not_paused"),
    ("post", "/api/counters/main-1/pause", {"reason": "nap"}, 422, "bad_reason"),
    ("post", "/api/counters/main-1/call", {}, 422, "missing_field"),
    ("post", "/api/counters/main-1/call", {"number": "Z999"}, 404, "unknown_ticket"),
    ("get", "/api/nothing-here", None, 404, None),
    ("put", "/api/tickets", None, 405, None),
])
def test_error_paths(shared_server, method, path, body, status, code):
    server = shared_server
    resp = getattr(requests, method)(server.url + path, json=body, headers=server.headers("staff2"), timeout=10)
    assert_error(resp, status, code)


def test_malformed_and_oversized_bodies(shared_server):
    server = shared_server
    h = {**server.headers(), "Content-Type": "application/json"}
    assert_error(requests.post(server.url + "/api/tickets", data="{not json", headers=h, timeout=10), 400, "bad_json")
    assert_error(requests.post(server.url + "/api/tickets", data="[1,2]", headers=h, timeout=10), 400, "bad_json")
    big = '{"site": "' + "x" * 300_000 + '"}'
    assert requests.post(server.url + "/api/tickets", data=big, headers=h, timeout=10).status_code == 413


def test_roles(server):
    assert_error(requests.post(server.url + "/api/tickets", json={"site": "main", "service": "CT"}, timeout=10), 401,
                 "unauthorized")
    assert_error(server.post("/api/tickets", who=None, headers={"Authorization": "Bearer xh_wrong"},
                             json={"site": "main", "service": "CT"}), 401, "bad_token")
    for who in ("main-kiosk-1", "main-hall"):
        assert_error(server.post("/api/counters/main-1/call-next", who=who), 403, "forbidden")
    assert_error(server.post("/api/tickets", who="main-hall", json={"site": "main", "service": "CT"}), 403)
    assert_error(server.post("/api/sites/main/close-day", who="staff1"), 403)
    assert server.post("/api/sites/main/close-day", who="manager").json()["site"] == "main"


def test_conflicts_between_staff(server):
    issue(server)
    assert server.post("/api/counters/main-1/call-next", who="staff1").status_code == 200
    body = assert_error(server.post("/api/counters/main-1/call-next", who="staff2"), 409, "counter_taken")
    assert "staff1" in body["message"]
    assert_error(server.post("/api/counters/main-1/call-next", who="staff1"), 409, "counter_busy")
    assert_error(server.post("/api/counters/main-1/finish", who="staff1",
                             json={"procedures": ["CT-BS"], "ticket": 123456}), 409, "stale_ticket")


def test_cookie_session_needs_csrf_token(server):
    s = requests.Session()
    page = s.get(server.url + "/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert s.post(server.url + "/login", data={"username": "staff1", "password": PASSWORD, "csrf_token": token},
                  timeout=10, allow_redirects=False).status_code == 302
    assert s.cookies.get("xephang_session")
    # Without the token header a cookie-authenticated call is refused...
    assert_error(s.post(server.url + "/api/counters/main-1/take", timeout=10), 400, "csrf_failed")
    # ...with it, it goes through.
    home = s.get(server.url + "/", timeout=10).text
    meta = re.search(r'name="csrf-token" content="([^"]+)"', home).group(1)
    r = s.post(server.url + "/api/counters/main-1/take", headers={"X-CSRFToken": meta}, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "open"


def test_login_locks_after_repeated_failures(server):
    s = requests.Session()

    def attempt(password):
        page = s.get(server.url + "/login", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        return s.post(server.url + "/login", data={"username": "staff2", "password": password, "csrf_token": token},
                      timeout=10, allow_redirects=False)

    for _ in range(5):
        assert attempt("wrong-password-123").status_code == 401
    locked = attempt(PASSWORD)
    assert locked.status_code == 401 and "khóa" in locked.text


def test_openapi_document_matches_the_routes(shared_server):
    server = shared_server
    from center.app import create_app

    doc = server.get("/api/openapi.json", who=None).json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, m.upper()) for path, ops in doc["paths"].items() for m in ops}
    app = create_app(str(server.config), str(server.db.with_name("openapi-check.sqlite3")), housekeeping=False)
    actual = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
        for m in rule.methods - {"HEAD", "OPTIONS"}:
            actual.add((path, m))
    assert documented == actual


def test_audit_log_shows_staff_actions_to_managers_only(server):
    t = issue(server).json()
    server.post("/api/counters/main-1/call-next", who="staff1")
    server.post("/api/counters/main-1/transfer", who="staff1", json={"service": "HT"})
    server.post("/api/counters/main-1/pause", who="staff1", json={"reason": "meeting"})
    assert_error(server.get("/api/audit", who="staff1"), 403)
    assert_error(server.get("/api/audit", who="main-hall"), 403)
    entries = server.get("/api/audit?site=main&staff=staff1", who="manager").json()["entries"]
    actions = [(e["action"], e["ticket_number"]) for e in entries]
    assert ("called", t["number"]) in actions and ("transferred", t["number"]) in actions
    assert any(e["action"] == "counter_pause" and e["detail"] == "meeting" for e in entries)
    assert all(e["actor"] == "staff1" for e in entries)
