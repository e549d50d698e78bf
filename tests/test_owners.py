"""One home for each rule (issue 14): who may emit to sockets, who writes which table, who parses which config.

These checks read the source (the server's packages, not tests or benchmarks), so a new shortcut fails in the
fast tier before it ships.
"""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT

PACKAGES = ("center", "kiosk", "counter", "display", "manager", "printer_drivers")


def sources() -> dict[str, str]:
    """Every server module's text by dotted name (center/statistics.py → center.statistics)."""
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            out[name] = path.read_text(encoding="utf-8")
    return out


def emits(text: str) -> list[tuple[int, str]]:
    """Calls named `emit` (`socketio.emit(...)`, `emit(...)`, `x.emit(...)`), with their line numbers."""
    found = []
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else None
            if name == "emit":
                found.append((node.lineno, ast.unparse(f)))
    return found


def test_only_the_socket_layer_emits():
    """Every event to screens goes through the publisher (`Engine.publish`, wired to
    `center.web.realtime.publisher`): after the commit, in commit order, batched, off the request. The rule:
    `emit` is called in center/web/realtime.py only, and there only by the publisher's sender and by the
    socket handlers' answers to the one client that asked (its `state` on connect and `resync`, the
    followed ticket on connect), which are the socket layer's replies and not events. No other module
    (blueprints, printing, the engine) calls `emit`, `socketio.emit` or any `.emit(`."""
    outside = {name: found for name, text in sources().items() if name != "center.web.realtime"
               and (found := emits(text))}
    assert not outside, f"emit outside the publisher: {outside}"
    # In center/web/realtime.py: the publisher's sender and loop, and the handlers' replies to one client.
    realtime = ast.parse((ROOT / "center" / "web" / "realtime.py").read_text(encoding="utf-8"))
    where = {}
    for fn in ast.walk(realtime):
        if isinstance(fn, ast.FunctionDef):
            for node in ast.walk(fn):  # outer functions first: the innermost one is written last
                where[id(node)] = fn.name
    callers = {where[id(n)] for n in ast.walk(realtime) if isinstance(n, ast.Call)
               and (getattr(n.func, "attr", None) == "emit" or getattr(n.func, "id", None) == "emit")}
    assert callers <= {"send", "run", "connect", "resync", "send_later"}, callers


WRITES = re.compile(r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+(\w+)", re.I)
OWNED = {"audit_log": "center.storage.audit", "settings": "center.storage.settings",
         "ticket_events": "center.queue.journal"}


def writers(table: str) -> set[str]:
    """Modules whose source holds an INSERT, UPDATE or DELETE of `table` (in any string, however split)."""
    found = set()
    for name, text in sources().items():
        strings = " ".join(n.value for n in ast.walk(ast.parse(text))
                           if isinstance(n, ast.Constant) and isinstance(n.value, str))
        if any(m.group(1).lower() == table for m in WRITES.finditer(strings)):
            found.add(name)
    return found


def test_each_table_has_one_writer():
    """audit_log through center.storage.audit.record, settings through center/storage/settings.py's typed
    accessors, ticket_events through center/queue/journal.py (the engine's operations, `Engine.record_print`,
    `append_events`): one column set and one meaning per table, whoever records."""
    found = {table: writers(table) for table in OWNED}
    assert found == {table: {owner} for table, owner in OWNED.items()}


def test_the_accounts_do_not_import_the_engine():
    """Who acts (`Actor`, `SYSTEM`) and why a counter pauses live in center/queue/actors.py: the accounts and the
    socket layer name a caller without loading the queue engine for one dataclass."""
    tree = ast.parse((ROOT / "center" / "web" / "auth.py").read_text(encoding="utf-8"))
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not [m for m in imported if m and m.split(".")[-1] == "engine"], imported
    from center.queue import actors, engine, seats

    assert engine.Actor is actors.Actor and tuple(actors.PAUSE_LABELS) == seats.PAUSE_REASONS


def test_every_staff_page_sends_nobody_to_sign_in_and_back(web):
    """One way (`center.web.pages.signed_in`): the sign-in page, then back to the page asked, query included."""
    from urllib.parse import parse_qs, urlsplit

    for path in ("/counter/main-1?lang=en&tab=2", "/display/main-hall/settings?lang=en", "/desk/main?lang=en",
                 "/manager/reports?lang=en&site=main"):
        r = web.get(path, who=None)
        where = urlsplit(r.headers.get("Location", ""))
        assert r.status_code == 302 and where.path == "/login", (path, r.status_code, r.headers.get("Location"))
        assert parse_qs(where.query)["next"] == [path]
    # The province hub is an app of its own, with its own accounts: its one way is center.hub.accounts.signed_in.
    outside = [name for name, text in sources().items() if name not in ("center.web.pages", "center.hub.accounts")
               and re.search(r"redirect\([^)]*login", text)]
    assert not outside, f"sign-in redirects outside center/web/pages.py: {outside}"


def test_two_apps_in_one_process_keep_their_own_printer_state(web_app, tmp_path, accounts_template, clock):
    """Whether a kiosk's last print worked is the app's own (`Center.printers_ok`), not a module global: a
    failure in one app (another center's database in the same process) makes no `recovered` alert in another."""
    import shutil

    from center.app import create_app
    from center.output.printing import record_outcome
    from center.queue.actors import SYSTEM
    from tests.conftest import DEMO_CONFIG

    db = tmp_path / "other" / "center.sqlite3"
    db.parent.mkdir()
    shutil.copyfile(accounts_template[0], db)
    other = create_app(str(DEMO_CONFIG), str(db), clock=clock, housekeeping=False)
    try:
        sent: dict[str, list] = {"one": [], "other": []}
        for name, app in (("one", web_app), ("other", other)):
            c = app.extensions["xephang"]
            c.engine.publish = sent[name].extend
        failed = {"ok": False, "error": "offline", "message": "Máy in không phản hồi", "health": {}}
        for app, out in ((web_app, failed), (other, {"ok": True, "health": {}})):
            c = app.extensions["xephang"]
            ticket = c.engine.issue("main", "CT")
            record_outcome(c, ticket, c.config.kiosk("main-kiosk-1"), out, SYSTEM)
        assert [e.name for e in sent["one"] if e.name == "printer.status"] == ["printer.status"]
        assert [e.name for e in sent["other"] if e.name == "printer.status"] == []
    finally:
        other.extensions["xephang"].store.close()


def test_each_config_section_is_parsed_once():
    """config.toml is parsed once, into frozen dataclasses; no raw copy of the file is kept for a second,
    different parse elsewhere (the rating pad's section was read again on every counter request)."""
    import dataclasses

    from center.config.model import Config, Rating

    names = {f.name for f in dataclasses.fields(Config)}
    assert "raw" not in names and "rating" in names
    assert Rating.__dataclass_params__.frozen
    readers = [name for name, text in sources().items() if re.search(r"\w\.raw\b|settings_from\(", text)]
    assert not readers, readers
