"""Sessions and sockets end with what they rest on, against real servers: sign-out, a password reset, a role
change, disabling an account and revoking a token end every session and socket of that account or token,
also on another server process of the same database."""

from __future__ import annotations

import re
import sqlite3
import threading

import requests
import socketio

from .conftest import PASSWORD

ENDS_WITHIN_S = 15  # the sweep runs every 2 s; a generous bound for a loaded machine, not a speed claim


def login(server, user: str) -> requests.Session:
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(server.url + "/login", timeout=10).text).group(1)
    r = s.post(server.url + "/login", data={"username": user, "password": PASSWORD, "csrf_token": token},
               timeout=10, allow_redirects=False)
    assert r.status_code == 302
    return s


def csrf(s: requests.Session, server, path: str = "/") -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', s.get(server.url + path, timeout=10).text).group(1)


def admin_users(server, admin: requests.Session, **form: str) -> None:
    r = admin.post(server.url + "/manager/admin/users",
                   data={"csrf_token": csrf(admin, server, "/manager/admin/users"), **form}, timeout=10)
    assert r.status_code == 200, r.text[-500:]


def revoke(server, admin: requests.Session, name: str) -> None:
    with sqlite3.connect(server.db) as conn:
        token_id = conn.execute("SELECT id FROM tokens WHERE name = ?", (name,)).fetchone()[0]
    r = admin.post(server.url + "/manager/admin/devices", data={
        "csrf_token": csrf(admin, server, "/manager/admin/devices"), "action": "revoke", "id": str(token_id)},
        timeout=10)
    assert r.status_code == 200, r.text[-500:]


def copy(s: requests.Session) -> requests.Session:
    """Another client holding the same cookie (copied from the browser, say)."""
    other = requests.Session()
    other.cookies.set("xephang_session", s.cookies["xephang_session"])
    return other


def signed_in(s: requests.Session, server) -> bool:
    r = s.get(server.url + "/api/counters/main-1", headers={"Accept": "application/json"}, timeout=10,
              allow_redirects=False)
    assert r.status_code in (200, 401), r.status_code
    return r.status_code == 200


class Socket:
    """A real Socket.IO client that records its states and notices when the server ends it."""

    def __init__(self, server, *, token: str | None = None, cookie: requests.Session | None = None,
                 private: bool = True):
        self.client = socketio.Client(reconnection=False)
        self.states: list[dict] = []
        self.ended = threading.Event()
        self.client.on("state", self.states.append)
        self.client.on("disconnect", lambda *a: self.ended.set())
        headers = {}
        if cookie is not None:
            # (the WebSocket client sends the server's own URL as Origin, like a page of the app would)
            headers = {"Cookie": f"xephang_session={cookie.cookies['xephang_session']}"}
        auth = {"site": "main", **({"token": token} if token else {})}
        self.client.connect(server.url, auth=auth, headers=headers, transports=["websocket"], wait_timeout=10)
        self.client.sleep(0.3)
        assert self.states and self.private() == private, "the socket starts with the state of its role"

    def private(self) -> bool:
        return "staff" in self.states[-1]["counters"][0]

    def wait_ended(self) -> bool:
        ended = self.ended.wait(ENDS_WITHIN_S)
        if not ended:
            # Still connected: show what it can still read.
            before = len(self.states)
            self.client.emit("resync")
            self.client.sleep(2.5)
            assert len(self.states) > before, "neither ended nor answered"
            self.client.disconnect()
        return ended


def test_a_cookie_copied_before_sign_out_stops_working_after_it(server):
    s = login(server, "staff1")
    stolen = copy(s)
    assert signed_in(stolen, server)
    r = s.post(server.url + "/logout", data={"csrf_token": csrf(s, server)}, timeout=10, allow_redirects=False)
    assert r.status_code == 302
    assert not signed_in(stolen, server)
    assert not signed_in(s, server)


def test_a_password_reset_a_role_change_or_disabling_ends_the_accounts_open_sessions(server):
    admin = login(server, "admin")
    reset, promoted, disabled = login(server, "staff1"), login(server, "staff2"), login(server, "manager")
    assert signed_in(reset, server) and signed_in(promoted, server) and signed_in(disabled, server)
    admin_users(server, admin, action="reset", username="staff1")
    admin_users(server, admin, action="role", username="staff2", role="manager")
    admin_users(server, admin, action="disable", username="manager")
    assert not signed_in(reset, server)
    assert not signed_in(promoted, server)
    assert not signed_in(disabled, server)
    assert signed_in(admin, server)  # nobody else's session ended
    # Signing in again works for the promoted account (with its new role) and not for the disabled one.
    assert signed_in(login(server, "staff2"), server)


def test_sockets_end_when_their_session_or_token_ends(server):
    admin = login(server, "admin")
    cookie_staff = login(server, "staff1")
    by_cookie = Socket(server, cookie=cookie_staff)
    by_role = Socket(server, cookie=login(server, "staff2"))
    by_user_token = Socket(server, token=server.tokens["manager"])
    by_device_token = Socket(server, token=server.tokens["main-hall"], private=False)
    untouched = Socket(server, token=server.tokens["admin"])

    cookie_staff.post(server.url + "/logout", data={"csrf_token": csrf(cookie_staff, server)}, timeout=10)
    admin_users(server, admin, action="role", username="staff2", role="manager")
    admin_users(server, admin, action="disable", username="manager")
    revoke(server, admin, "main-hall")

    assert by_cookie.wait_ended(), "a socket of a signed-out session stayed connected"
    assert by_role.wait_ended(), "a socket opened before a role change stayed connected"
    assert by_user_token.wait_ended(), "a socket of a disabled account's token stayed connected"
    assert by_device_token.wait_ended(), "a socket of a revoked token stayed connected"
    assert untouched.client.connected
    untouched.client.disconnect()

    # Connecting again: the old cookie gives only the public state; the revoked token is refused.
    again = socketio.Client(reconnection=False)
    states: list[dict] = []
    again.on("state", states.append)
    again.connect(server.url, auth={"site": "main"}, transports=["websocket"], wait_timeout=10,
                  headers={"Cookie": f"xephang_session={cookie_staff.cookies.get('xephang_session', '')}"})
    again.sleep(0.5)
    assert states and "staff" not in states[0]["counters"][0]
    again.disconnect()
    refused = socketio.Client(reconnection=False)
    try:
        refused.connect(server.url, auth={"site": "main", "token": server.tokens["main-hall"]},
                        transports=["websocket"], wait_timeout=10)
    except socketio.exceptions.ConnectionError:
        pass
    else:
        refused.disconnect()
        raise AssertionError("a revoked token connected")


def test_a_socket_on_another_server_process_ends_when_its_token_is_revoked_here(make_server):
    here, there = make_server(), make_server()  # two processes, one database
    admin = login(here, "admin")
    sock = Socket(there, token=there.tokens["staff1"])
    staff_session_there = login(there, "staff2")
    admin_users(here, admin, action="disable", username="staff1")
    admin_users(here, admin, action="reset", username="staff2")
    assert sock.wait_ended()
    assert not signed_in(staff_session_there, there)
