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
    `center.realtime.publisher`): after the commit, in commit order, batched, off the request. The rule:
    `emit` is called in center/realtime.py only, and there only by the publisher's sender and by the
    socket handlers' answers to the one client that asked (its `state` on connect and `resync`, the
    followed ticket on connect), which are the socket layer's replies and not events. No other module
    (blueprints, printing, the engine) calls `emit`, `socketio.emit` or any `.emit(`."""
    outside = {name: found for name, text in sources().items() if name != "center.realtime"
               and (found := emits(text))}
    assert not outside, f"emit outside the publisher: {outside}"
    # In center/realtime.py: the publisher's sender and loop, and the handlers' replies to one client.
    realtime = ast.parse((ROOT / "center" / "realtime.py").read_text(encoding="utf-8"))
    where = {}
    for fn in ast.walk(realtime):
        if isinstance(fn, ast.FunctionDef):
            for node in ast.walk(fn):  # outer functions first: the innermost one is written last
                where[id(node)] = fn.name
    callers = {where[id(n)] for n in ast.walk(realtime) if isinstance(n, ast.Call)
               and (getattr(n.func, "attr", None) == "emit" or getattr(n.func, "id", None) == "emit")}
    assert callers <= {"send", "run", "connect", "resync", "send_later"}, callers


WRITES = re.compile(r"\b(?:INSERT(?:\s+OR\s+\w+)?\s+INTO|REPLACE\s+INTO|UPDATE|DELETE\s+FROM)\s+(\w+)", re.I)
OWNED = {"audit_log": "center.audit", "settings": "center.settings", "ticket_events": "center.engine"}


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
    """audit_log through center.audit.record, settings through center/settings.py's typed accessors,
    ticket_events through the engine (its operations, `Engine.record_print`, `append_events`): one column
    set and one meaning per table, whoever records."""
    found = {table: writers(table) for table in OWNED}
    assert found == {table: {owner} for table, owner in OWNED.items()}

