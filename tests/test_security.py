"""Every route and Socket.IO connection probed with every role and with none, against docs/security.md."""

from __future__ import annotations

import re

import pytest
import requests
import socketio

from .conftest import ROOT

ROLES = ("admin", "manager", "staff", "kiosk", "display")
TOKEN_OF = {"admin": "admin", "manager": "manager", "staff": "staff1", "kiosk": "main-kiosk-1",
            "display": "main-hall"}


def documented_routes() -> dict[tuple[str, str], set[str] | None]:
    """(METHOD, route) -> allowed roles, or None for public, from the table in docs/security.md."""
    out = {}
    for line in (ROOT / "docs" / "security.md").read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\| ([A-Z, ]+) \| `([^`]+)` \| (.+) \|$", line)
        if not m:
            continue
        methods, route, allowed = m.groups()
        roles = None if allowed.startswith("public") else {
            r for r in ROLES if re.search(rf"\b{r}\b", allowed.split("(")[0])}
        for method in methods.split(","):
            out[(method.strip(), route)] = roles
    return out


def normalise(rule: str) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"<\1>", rule)


def test_the_table_lists_exactly_the_routes_of_the_app(tmp_path):
    from center.app import create_app

    app = create_app(str(ROOT / "config.toml"), str(tmp_path / "routes.sqlite3"), housekeeping=False)
    actual = {(m, normalise(r.rule)) for r in app.url_map.iter_rules() for m in r.methods - {"HEAD", "OPTIONS"}}
    assert set(documented_routes()) == actual


def fill(route: str, ids: dict[str, str]) -> str:
    return re.sub(r"<([a-z_]+)>", lambda m: ids[m.group(1)], route)


@pytest.mark.slow
def test_every_route_lets_in_only_the_roles_it_lists(server):
    t = server.post("/api/tickets", json={"site": "main", "service": "CT"}).json()
    ids = {"counter_id": "main-4", "kiosk_id": "main-kiosk-1", "display_id": "main-hall", "site": "main",
           "ticket_id": str(t["id"]), "public_id": t["public_id"], "job_id": "1", "filename": "missing.css",
           "name": "missing.ttf", "code": "ABCDEF"}
    problems = []
    for (method, route), allowed in sorted(documented_routes().items()):
        url = server.url + fill(route, ids)
        for role in (None, *ROLES):
            headers = {"Authorization": f"Bearer {server.tokens[TOKEN_OF[role]]}"} if role else {}
            r = requests.request(method, url, headers=headers, json={} if method == "POST" else None, timeout=15,
                                 allow_redirects=False)
            to_login = r.status_code in (302, 303) and "/login" in r.headers.get("Location", "")
            refused = r.status_code in (401, 403) or to_login
            should_pass = allowed is None or role in allowed
            if route in ("/login", "/logout"):
                refused = False  # their 401 (wrong password) and redirect to /login are the answer, not a refusal
            if r.status_code >= 500:
                problems.append(f"{method} {route} as {role}: {r.status_code}")
            elif should_pass and refused:
                problems.append(f"{method} {route} as {role}: refused ({r.status_code}) but listed")
            elif not should_pass and not refused:
                problems.append(f"{method} {route} as {role}: let through ({r.status_code}) but not listed")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(("auth", "ok"), [
    ({"site": "main"}, True),
    ({"site": "main", "token": "admin"}, True),
    ({"site": "main", "token": "staff1"}, True),
    ({"site": "main", "token": "main-hall"}, True),
    ({"site": "main", "token": "main-kiosk-1"}, True),
    ({"site": "main", "token": "branch-kiosk-1"}, False),  # a device of another site
    ({"site": "main", "token": "xh_revoked-or-made-up"}, False),
    ({"site": "nowhere"}, False),
    ({}, False),
])
def test_socket_connect_by_role(server, auth, ok):
    if "token" in auth:
        auth = {**auth, "token": server.tokens.get(auth["token"], auth["token"])}
    client = socketio.Client(reconnection=False)
    states = []
    client.on("state", states.append)
    try:
        client.connect(server.url, auth=auth, transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        assert not ok
        return
    try:
        assert ok
        client.sleep(0.5)
        assert states and states[0]["site"] == "main"
        staff_view = "staff" in states[0]["counters"][0]
        assert staff_view == (auth.get("token") in (server.tokens["admin"], server.tokens["staff1"]))
    finally:
        client.disconnect()
