"""The counter blueprint's JSON routes on a real server: today's figures, priority list, rating pad routes."""

from __future__ import annotations

import re

import requests

from .counter_support import issue, query


def test_my_figures_today_and_priority_tickets_waiting(server):
    for _ in range(2):
        t = issue(server, "CT")
        assert server.post("/api/counters/main-1/call-next", who="staff1").json()["id"] == t["id"]
        r = server.post("/api/counters/main-1/finish", who="staff1",
                        json={"ticket": t["id"], "procedures": ["CT-BS", "CT-CK"]})
        assert r.status_code == 200
    absent = issue(server, "CT")
    server.post("/api/counters/main-1/call-next", who="staff1")
    server.post("/api/counters/main-1/no-show", who="staff1", json={"ticket": absent["id"]})
    prio = issue(server, "HD", priority="elderly")      # main-2 serves HD, main-1 does not
    me = server.get("/counter/main-1/me", who="staff1").json()
    assert (me["staff"], me["served"], me["no_show"]) == ("staff1", 2, 1)
    rows = query(server, "SELECT avg(service_s) AS m FROM tickets WHERE staff = 'staff1' AND status = 'served'")
    assert abs(me["mean_service_s"] - rows[0]["m"]) < 0.1
    assert {p["code"]: p["count"] for p in me["procedures"]} == {"CT-BS": 2, "CT-CK": 2}
    assert me["priority_waiting"] == []
    other = server.get("/counter/main-2/me", who="staff2").json()
    assert other["served"] == 0
    assert [(p["number"], p["priority"], p["priority_name"]) for p in other["priority_waiting"]] == [
        (prio["number"], "elderly", "Người cao tuổi (từ 75 tuổi)")]


def test_rating_pad_routes_accept_one_rating_for_the_latest_finish(server):
    t = issue(server, "TKQ")
    server.post("/api/counters/main-1/call-next", who="staff1")
    pad = requests.Session()
    page = pad.get(server.url + "/counter/main-1/rating", timeout=10)
    assert page.status_code == 200 and "Ông/Bà có hài lòng với việc giải quyết thủ tục hành chính?" in page.text
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text).group(1)
    headers = {"X-CSRFToken": csrf, "Accept": "application/json"}
    assert pad.get(server.url + "/counter/main-1/rating/pending", timeout=10).json()["pending"] is None
    server.post("/api/counters/main-1/finish", who="staff1", json={"ticket": t["id"], "procedures": ["TKQ"]})
    pending = pad.get(server.url + "/counter/main-1/rating/pending", timeout=10).json()["pending"]
    assert pending["ticket"] == t["id"] and pending["number"] == t["number"]
    # a form post (not JSON) is refused: a cross-site page cannot submit a rating without a CORS preflight
    form = pad.post(server.url + "/counter/main-1/rating", data={"ticket": t["id"], "level": "satisfied"},
                    headers=headers, timeout=10)
    assert form.status_code == 400 and form.json()["error"] == "bad_json"  # a form body is not JSON
    ok = pad.post(server.url + "/counter/main-1/rating", json={"ticket": t["id"], "level": "very_satisfied"},
                  headers=headers, timeout=10)
    assert ok.status_code == 201 and ok.json()["satisfied"] is True
    again = pad.post(server.url + "/counter/main-1/rating", json={"ticket": t["id"], "level": "unsatisfied"},
                     headers=headers, timeout=10)
    assert again.status_code == 409 and again.json()["error"] == "already_rated"
    bad = pad.post(server.url + "/counter/main-1/rating", json={"ticket": t["id"], "level": 5},
                   headers=headers, timeout=10)
    assert bad.status_code == 422 and bad.json()["error"] == "bad_level"
    unknown = pad.get(server.url + "/counter/nope/rating/pending", timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_counter"
    rows = query(server, "SELECT level, staff, counter_id FROM ratings WHERE ticket_id = ?", t["id"])
    assert [tuple(r) for r in rows] == [("very_satisfied", "staff1", "main-1")]
    assert server.get("/counter/main-1/me", who="staff1").json()["ratings"] == {
        "count": 1, "satisfied": 1, "satisfied_share": 1.0}


class _Listener:
    """A real Socket.IO client on the site's screens room (a display token), recording what it receives."""

    def __init__(self, server, **auth):
        import socketio

        self.events: list[tuple[str, dict]] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on("*", lambda name, data: self.events.append((name, data)))
        self.client.connect(server.url, auth=auth, transports=["websocket"], wait_timeout=10)

    def wait_for(self, test, timeout: float = 5.0) -> dict:
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, data in self.events:
                if test(name, data):
                    return data
            time.sleep(0.05)
        raise AssertionError(f"no such event among {[n for n, _ in self.events]}")

    def close(self) -> None:
        self.client.disconnect()


def test_forced_release_puts_the_called_citizen_back_at_their_place_tells_screens_and_audits(server):
    first, second = issue(server, "CT"), issue(server, "CT")
    assert server.post("/api/counters/main-1/call-next", who="staff1").json()["id"] == first["id"]
    screen = _Listener(server, site="main", token=server.tokens["main-hall"])
    phone = _Listener(server, ticket=first["public_id"])
    try:
        r = server.post("/api/counters/main-1/release", who="admin", json={"force": True})
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["ticket"]) == ("closed", None)
        # the screens hear that the counter closed and the citizen waits again; their phone too
        screen.wait_for(lambda n, d: n == "counter.updated" and d["id"] == "main-1" and d["status"] == "closed")
        screen.wait_for(lambda n, d: n == "queue.updated"
                        and any(s["code"] == "CT" and s["waiting"] == 2 for s in d["services"]))
        phone.wait_for(lambda n, d: n == "ticket.updated" and d["status"] == "waiting")
    finally:
        screen.close()
        phone.close()
    back = query(server, "SELECT status, counter_id, staff, called_at, wait_s FROM tickets WHERE id = ?",
                 first["id"])[0]
    assert dict(back) == {"status": "waiting", "counter_id": None, "staff": None, "called_at": None, "wait_s": None}
    # at their place: ahead of the ticket issued after theirs, for the next counter that calls
    assert server.post("/api/counters/main-2/call-next", who="staff2").json()["id"] == first["id"]
    # who did it, in the audit log
    entries = server.get("/api/audit", who="manager").json()["entries"]
    requeued = [e for e in entries if e["action"] == "requeued"]
    assert [(e["actor"], e["ticket_number"], e["counter"]) for e in requeued] == [("admin", first["number"], "main-1")]
    released = [e for e in entries if e["action"] == "counter_release"]
    assert [e["actor"] for e in released] == ["admin"] and "staff1" in released[0]["detail"]
    assert second["id"] != first["id"]


def test_forced_release_can_end_the_visit_as_no_show_and_staff_cannot_force(server):
    t = issue(server, "CT")
    server.post("/api/counters/main-1/call-next", who="staff1")
    refused = server.post("/api/counters/main-1/release", who="staff2", json={"force": True, "citizen": "no_show"})
    assert refused.status_code == 409 and refused.json()["error"] == "counter_taken"
    bad = server.post("/api/counters/main-1/release", who="manager", json={"force": True, "citizen": "drop"})
    assert bad.status_code == 422 and bad.json()["error"] == "bad_field" and bad.json()["message_en"]
    r = server.post("/api/counters/main-1/release", who="manager", json={"force": True, "citizen": "no_show"})
    assert r.status_code == 200, r.text
    row = query(server, "SELECT status, ended_at FROM tickets WHERE id = ?", t["id"])[0]
    assert row["status"] == "no_show" and row["ended_at"]
    entry = [e for e in server.get("/api/audit", who="manager").json()["entries"] if e["action"] == "no_show"]
    assert [(e["actor"], e["ticket_number"]) for e in entry] == [("manager", t["number"])]
    # the citizen came back: any counter can call the number again (it was 409 already_called)
    again = server.post("/api/counters/main-2/call", who="staff2", json={"number": t["number"]})
    assert again.status_code == 200 and again.json()["id"] == t["id"]
