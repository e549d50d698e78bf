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
