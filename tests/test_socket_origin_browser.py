"""Cross-site WebSocket hijacking, in real Chromium: a page served from another origin (this host, another port)
opens a Socket.IO connection while a staff member is signed in. It must not see what the staff member sees
(staff names, pause reasons); a page of the app itself, or of an origin named in [security] allowed_origins,
does. Plus the same rules checked header by header with the Python client."""

from __future__ import annotations

import http.server
import re
import threading
from pathlib import Path

import pytest
import requests
import socketio

from .conftest import DEMO_CONFIG, PASSWORD, free_port

ATTACK = """<!doctype html><meta charset="utf-8"><title>not the queue</title>
<script src="{app}/static/vendor/socket.io.min.js"></script>
<script>
  window.results = {{}};
  function probe(name, transports) {{
    const s = io("{app}", {{ auth: {{ site: "main" }}, transports, reconnection: false, timeout: 5000 }});
    s.on("state", (st) => {{ window.results[name] = {{ counters: st.counters }}; s.close(); }});
    s.on("connect_error", (e) => {{ window.results[name] = {{ error: String(e && e.message) }}; }});
  }}
  probe("websocket", ["websocket"]);
  probe("polling", ["polling"]);
</script>"""


@pytest.fixture
def elsewhere(tmp_path):
    """A web server on another port of the same host, serving the attacker's page."""
    port = free_port()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(tmp_path), **kw)

        def log_message(self, *a):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield port, tmp_path
    httpd.shutdown()


def setup_private_state(server) -> None:
    """Something private to read: staff1 at counter 1, paused with a reason."""
    assert server.post("/api/counters/main-1/take", who="staff1").ok
    assert server.post("/api/counters/main-1/pause", who="staff1", json={"reason": "meeting"}).ok


def sign_in(page, server, user="staff2"):
    page.goto(server.url + "/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def read_from(page, url: str) -> dict:
    page.goto(url)
    page.wait_for_function("() => window.results.websocket && window.results.polling", timeout=15000)
    return page.evaluate("() => window.results")


def sees_private(result: dict) -> bool:
    return "counters" in result and any("staff" in c or "pause_reason" in c for c in result["counters"])


def attack_page(directory: Path, server) -> str:
    (directory / "attack.html").write_text(ATTACK.format(app=server.url), encoding="utf-8")
    return "attack.html"


pytestmark = pytest.mark.browser


def test_a_page_of_another_origin_cannot_read_what_the_signed_in_staff_sees(page, server, elsewhere):
    port, directory = elsewhere
    setup_private_state(server)
    sign_in(page, server)
    name = attack_page(directory, server)
    results = read_from(page, f"http://127.0.0.1:{port}/{name}")
    # The WebSocket connects (a public screen may live anywhere) but gets only the public state.
    assert "counters" in results["websocket"], results
    assert not sees_private(results["websocket"]), results["websocket"]
    # Long polling from elsewhere cannot even read the answers (no CORS headers).
    assert not sees_private(results["polling"]), results["polling"]
    # The same script on a page of the app itself sees what the staff member sees, both ways.
    page.goto(server.url + "/")
    own = page.evaluate(ATTACK_JS, server.url)
    assert sees_private(own["websocket"]) and sees_private(own["polling"]), own


ATTACK_JS = """async (app) => {
  const probe = (transports) => new Promise((resolve) => {
    const s = io(app, { auth: { site: "main" }, transports, reconnection: false, timeout: 5000 });
    s.on("state", (st) => { resolve({ counters: st.counters }); s.close(); });
    s.on("connect_error", (e) => resolve({ error: String(e && e.message) }));
  });
  if (!window.io) {
    await new Promise((ok) => { const t = document.createElement("script");
      t.src = "/static/vendor/socket.io.min.js"; t.onload = ok; document.head.appendChild(t); });
  }
  return { websocket: await probe(["websocket"]), polling: await probe(["polling"]) };
}"""


def test_an_origin_named_in_the_config_may_use_the_cookie(page, make_server, elsewhere, tmp_path):
    port, directory = elsewhere
    config = tmp_path / "proxied.toml"
    config.write_text(DEMO_CONFIG.read_text(encoding="utf-8") +
                      f'\n[security]\nallowed_origins = ["http://127.0.0.1:{port}"]\n', encoding="utf-8")
    server = make_server(config=config)
    setup_private_state(server)
    sign_in(page, server)
    results = read_from(page, f"http://127.0.0.1:{port}/{attack_page(directory, server)}")
    assert sees_private(results["websocket"]), results


def cookie_of(server, user="staff2") -> str:
    s = requests.Session()
    token = re.search(r'name="csrf_token" value="([^"]+)"', s.get(server.url + "/login", timeout=10).text).group(1)
    assert s.post(server.url + "/login", data={"username": user, "password": PASSWORD, "csrf_token": token},
                  timeout=10, allow_redirects=False).status_code == 302
    return s.cookies["xephang_session"]


@pytest.mark.parametrize(("origin", "fetch_site", "token", "private"), [
    ("own", None, None, True),                      # a page of the app
    ("http://127.0.0.1:1", None, None, False),      # this host, another port
    ("http://evil.example", None, None, False),
    ("null", None, None, False),                    # a sandboxed frame or a file
    (None, "same-origin", None, True),              # a same-origin long-polling GET sends no Origin
    (None, "same-site", None, False),               # a script tag on another port of this host
    (None, None, None, False),                      # says nothing: no cookie rights
    ("http://evil.example", None, "staff1", True),  # a token works from anywhere
])
def test_the_staff_cookie_counts_only_from_the_apps_own_origin(server, origin, fetch_site, token, private):
    setup_private_state(server)
    options = {"suppress_origin": True} if origin is None else {"origin": server.url if origin == "own" else origin}
    headers = {"Cookie": f"xephang_session={cookie_of(server)}"}
    if fetch_site:
        headers["Sec-Fetch-Site"] = fetch_site
    client = socketio.Client(reconnection=False, websocket_extra_options=options)
    states: list[dict] = []
    client.on("state", states.append)
    auth = {"site": "main", **({"token": server.tokens[token]} if token else {})}
    client.connect(server.url, auth=auth, headers=headers, transports=["websocket"], wait_timeout=10)
    try:
        client.sleep(0.5)
        assert states
        assert sees_private(states[0]) == private
    finally:
        client.disconnect()


@pytest.mark.parametrize(("section", "key"), [
    ('allowed_origins = ["https://xephang.example.vn/path"]', "security.allowed_origins[0]"),
    ('allowed_origins = ["xephang.example.vn"]', "security.allowed_origins[0]"),
    ('allowed_origins = "https://xephang.example.vn"', "security.allowed_origins"),
    ('trusted_proxies = ["nginx"]', "security.trusted_proxies[0]"),
    ("anonymous_sockets_per_address = 0", "security.anonymous_sockets_per_address"),
    ("allowed_origin = []", "security.allowed_origin"),
])
def test_the_security_section_is_validated_like_the_rest(section, key):
    import tempfile

    from center.config.read import ConfigError, load_config

    with tempfile.TemporaryDirectory() as d:
        config = Path(d) / "c.toml"
        config.write_text(DEMO_CONFIG.read_text(encoding="utf-8") + f"\n[security]\n{section}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as e:
            load_config(config)
    assert e.value.key == key


def test_the_security_section_has_safe_defaults_and_takes_a_proxy_network(tmp_path):
    from center.config.read import load_config

    assert load_config(DEMO_CONFIG).security.allowed_origins == ()
    config = tmp_path / "c.toml"
    config.write_text(DEMO_CONFIG.read_text(encoding="utf-8") + '\n[security]\nallowed_origins = '
                      '["https://XepHang.example.vn"]\ntrusted_proxies = ["10.0.0.0/8"]\n', encoding="utf-8")
    security = load_config(config).security
    assert security.allowed_origins == ("https://xephang.example.vn",)
    assert security.trusted_proxies == ("10.0.0.0/8",) and security.anonymous_sockets_per_address == 50
