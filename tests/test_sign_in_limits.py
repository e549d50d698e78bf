"""Sign-in under attack, against a real server: a burst of wrong passwords gets at most 5 password checks, the
right password sent inside such a burst is refused, the lockout answer is the same for names that do not exist,
and one client address gets 10 failed sign-ins, then one every 30 s."""

from __future__ import annotations

import http.client
import re
import sqlite3
from urllib.parse import urlencode

import requests

from .conftest import PASSWORD

WRONG = "wrong-password-123"


def login_form(server) -> tuple[str, str]:
    """A fresh session cookie and its CSRF token, as the sign-in page gives them."""
    r = requests.get(server.url + "/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    return r.cookies["xephang_session"], token


def send_login(server, user: str, password: str, headers: dict | None = None,
               form: tuple[str, str] | None = None) -> http.client.HTTPConnection:
    """POST /login written out completely; the answer is read later (`answer`), so a burst is all on the wire
    before any of it is answered."""
    cookie, token = form or login_form(server)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    conn.request("POST", "/login", body=urlencode({"username": user, "password": password, "csrf_token": token}),
                 headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"xephang_session={cookie}",
                          **(headers or {})})
    return conn


def answer(conn: http.client.HTTPConnection) -> tuple[int, str]:
    resp = conn.getresponse()
    body = resp.read().decode()
    conn.close()
    m = re.search(r'<p class="error" role="alert">([^<]*)</p>', body)
    return resp.status, m.group(1) if m else ""


def checks(server, user: str) -> int:
    """Password checks made for `user`: each one writes login or login_failed to the audit log."""
    with sqlite3.connect(server.db) as conn:
        return conn.execute("SELECT count(*) FROM audit_log WHERE actor = ? AND action IN ('login', 'login_failed')",
                            (user,)).fetchone()[0]


def test_a_burst_of_20_wrong_passwords_gets_at_most_5_checks_and_the_right_one_inside_it_is_refused(server):
    for i, user in enumerate(("staff1", "staff2", "manager", "admin")):  # four rounds, as in the attack
        address = {"X-Real-IP": f"10.0.0.{i + 1}"}  # one attacker address per round (each has 10 failures)
        forms = [login_form(server) for _ in range(21)]
        burst = [send_login(server, user, WRONG, address, form) for form in forms[:20]]
        right = send_login(server, user, PASSWORD, address, forms[20])  # sent before any of the burst is answered
        answers = [answer(c) for c in burst]
        status, message = answer(right)
        assert status == 401 and "khóa" in message, f"{user}: the right password inside the burst signed in"
        assert checks(server, user) == 5, f"{user}: {checks(server, user)} password checks for 20 wrong ones"
        assert sum("Sai tên đăng nhập" in m for _, m in answers) == 5
        assert all(s == 401 for s, _ in answers)
        # Afterwards too: the name is locked, the right password is not checked.
        assert answer(send_login(server, user, PASSWORD))[0] == 401 and checks(server, user) == 5


def test_the_lockout_answer_does_not_tell_whether_the_account_exists(server):
    def lock(user: str) -> tuple[int, str]:
        address = {"X-Real-IP": "10.0.1.1" if user == "staff2" else "10.0.1.2"}
        for _ in range(5):
            assert answer(send_login(server, user, WRONG, address))[0] == 401
        return answer(send_login(server, user, WRONG, address))

    real, missing = lock("staff2"), lock("khong-co-ai")
    assert real == missing and real[0] == 401 and "khóa" in real[1]


def test_one_address_gets_10_failed_sign_ins_then_waits(server):
    # Password spraying: a few tries on each of many names, from one address (X-Real-IP, believed because the
    # peer is the trusted proxy on 127.0.0.1, as nginx would send it).
    sprayer = {"X-Real-IP": "10.1.2.3"}
    names = [f"nv{i:02d}" for i in range(12)]
    results = [answer(send_login(server, name, WRONG, sprayer)) for name in names]
    assert [s for s, _ in results] == [401] * 10 + [429] * 2
    assert "thử lại sau" in results[-1][1]
    with sqlite3.connect(server.db) as conn:
        failed = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'login_failed' "
                              "AND detail LIKE '%10.1.2.3%'").fetchone()[0]
    assert failed == 10  # the 11th and 12th were never checked
    conn = send_login(server, "staff1", PASSWORD, sprayer)
    resp = conn.getresponse()
    assert resp.status == 429 and int(resp.getheader("Retry-After")) >= 1
    conn.close()
    # Another address is not held up by the sprayer, and a right password there signs in.
    assert answer(send_login(server, "staff1", WRONG, {"X-Real-IP": "10.1.2.4"}))[0] == 401
    ok = send_login(server, "staff1", PASSWORD, {"X-Real-IP": "10.1.2.4"}).getresponse()
    assert ok.status == 302


def test_the_client_address_comes_from_a_trusted_proxy_only():
    from center.config.model import Security
    from center.web.clients import client_address

    security = Security()
    assert client_address({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "192.168.1.20"}, security) == "192.168.1.20"
    assert client_address({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 192.168.1.21"},
                          security) == "192.168.1.21"
    # A client on the LAN cannot choose its address by sending the header itself.
    assert client_address({"REMOTE_ADDR": "192.168.1.30", "HTTP_X_REAL_IP": "10.9.9.9"}, security) == "192.168.1.30"
    assert client_address({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "not-an-ip"}, security) == "127.0.0.1"
    behind = Security(trusted_proxies=("10.0.0.0/8",))
    assert client_address({"REMOTE_ADDR": "10.0.0.5", "HTTP_X_REAL_IP": "192.168.1.40"}, behind) == "192.168.1.40"
    assert client_address({"REMOTE_ADDR": "127.0.0.1", "HTTP_X_REAL_IP": "192.168.1.40"}, behind) == "127.0.0.1"


def test_the_count_holds_across_server_processes(make_server):
    here, there = make_server(), make_server()  # two processes, one database
    address = {"X-Real-IP": "10.0.2.1"}
    forms = [login_form(server) for server in (here, there) * 10]
    burst = [send_login(server, "staff1", WRONG, address, form)
             for server, form in zip((here, there) * 10, forms, strict=True)]
    right = send_login(there, "staff1", PASSWORD, address)
    answers = [answer(c) for c in burst]
    assert answer(right)[0] == 401
    assert checks(here, "staff1") == 5
    assert sum("Sai tên đăng nhập" in m for _, m in answers) == 5
