"""Housekeeping (center/housekeeping.py) closes the day through the engine and then rolls the closed days up;
the engine itself builds no roll-ups and imports nothing of the reports."""

from __future__ import annotations

import ast
from pathlib import Path

from center.housekeeping import Housekeeping
from center.queue.actors import Actor

STAFF = Actor("staff1", "staff")
ENGINE_SOURCE = Path(__file__).resolve().parent.parent / "center" / "queue" / "engine.py"


def _rolled_up(engine, day: str) -> tuple | None:
    with engine.store.connection() as conn:
        return conn.execute("SELECT tickets FROM rollup_days WHERE site = 'main' AND service_day = ?",
                            (day,)).fetchone()


def test_housekeeping_rolls_up_yesterday_once_the_day_turns(engine, clock):
    keeper = Housekeeping(engine)
    engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    engine.finish("main-1", STAFF, ["CT-BS"])
    keeper.run_once()
    assert _rolled_up(engine, "2026-11-23") is None  # today (2026-11-23) is never rolled up
    clock.advance(days=1)
    keeper.run_once()
    row = _rolled_up(engine, "2026-11-23")
    assert row is not None and row[0] == 1


def test_housekeeping_closes_the_day_before_rolling_it_up(engine, clock):
    t = engine.issue("main", "CT")
    clock.advance(days=1)
    Housekeeping(engine).run_once()
    assert engine.get_ticket(t["id"])["status"] == "cancelled"
    with engine.store.connection() as conn:
        cancelled, waiting = conn.execute("SELECT sum(cancelled), sum(open) FROM rollup_cells WHERE site = 'main' "
                                          "AND service_day = '2026-11-23'").fetchone()
    assert (cancelled, waiting) == (1, 0)  # the roll-up holds the closed day, not the one still waiting


def test_the_engine_closes_the_day_but_builds_no_rollups(engine, clock):
    t = engine.issue("main", "CT")
    clock.advance(days=1)
    engine.housekeeping()
    assert engine.get_ticket(t["id"])["status"] == "cancelled"
    assert _rolled_up(engine, "2026-11-23") is None


def test_the_engine_imports_nothing_of_the_reports():
    imported = set()
    for node in ast.walk(ast.parse(ENGINE_SOURCE.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            imported.add(("." * node.level) + (node.module or ""))
            imported.update(f".{a.name}" for a in node.names if node.level and not node.module)
        elif isinstance(node, ast.Import):
            imported.update(a.name for a in node.names)
    assert not {m for m in imported if "reports" in m or "statistics" in m or "rollup" in m}, imported
