"""Issue 15: a mobile team's records for a day the center has already rolled up (a bundle carried back days
later) change the center's long-range reports: the roll-ups of the days they touch are built again."""

from __future__ import annotations

from datetime import timedelta

from center import reports
from center.config.read import parse_config, read_toml
from center.queue.actors import Actor
from center.queue.engine import Engine
from center.storage import outbox
from center.storage.store import Store
from center.sync import manifest, nodes
from tests.conftest import FakeClock
from tests.sync_support import center_config

STAFF = Actor(name="staff1", role="staff")


def _report(store: Store, config, d0: str, d1: str) -> dict:
    reports.ensure_rollups(store, config, d0, d1)
    with store.read() as conn:
        rep = reports.report(conn, config, reports.Filters(d0, d1, site="luudong1", group="service"))
    rep.pop("generated_at")
    return rep


def test_late_records_of_a_rolled_up_day_are_in_the_centers_long_report(tmp_path):
    center_cfg = parse_config(read_toml(center_config(tmp_path)), str(tmp_path / "center.toml"))
    node = center_cfg.node("mobile1")
    data = manifest.node_data({"upstream": {"url": "http://127.0.0.1:9", "node": "mobile1"}},
                              {"config": read_toml(center_cfg.source_path), "sites": list(node.sites)})
    node_cfg = parse_config(data)
    clock = FakeClock()
    node_store = Store(tmp_path / "node.sqlite3")
    with node_store.write() as conn:
        outbox.link(conn, "mobile1", node.block)
    center_store = Store(tmp_path / "center.sqlite3")
    Engine(center_store, center_cfg, clock=clock, publish=lambda events: None)
    team = Engine(node_store, node_cfg, clock=clock, publish=lambda events: None)

    day = clock.now.date().isoformat()
    team.take_counter("ld1-1", STAFF)
    for _ in range(3):
        team.issue("luudong1", "CT")
        clock.advance(minutes=4)
        team.call_next("ld1-1", STAFF)
        team.start("ld1-1", STAFF)
        clock.advance(minutes=5)
        team.finish("ld1-1", STAFF, ["CT-BS"])
    clock.advance(days=3)  # the team comes back three days later; the center rolled the day up meanwhile
    d0, d1 = (clock.now - timedelta(days=40)).date().isoformat(), clock.now.date().isoformat()
    before = _report(center_store, center_cfg, d0, d1)
    assert before["summary"]["issued"] == 0 and before["source"] == "rollup"

    with node_store.connection() as conn:
        batch = outbox.collect(conn, "mobile1", 0)
    with center_store.write() as conn:
        assert not nodes.receive(conn, center_cfg, node, batch, via="bundle", size=0, now=clock.now,
                                 clock_offset_s=None)["gap"]
    after = _report(center_store, center_cfg, d0, d1)
    assert after["summary"]["issued"] == 3
    assert after == _report(node_store, node_cfg, d0, d1)
    with center_store.read() as conn:
        rolled = {r[0] for r in conn.execute("SELECT service_day FROM rollup_days WHERE site = 'luudong1' "
                                             "AND tickets > 0")}
    assert rolled == {day}


def test_a_synthetic_history_made_on_a_node_takes_ids_of_its_block(tmp_path):
    """Benchmarks and demos fill a node's database with generate-history: its tickets must be in the node's
    block like its events, or the center refuses every batch."""
    from datetime import date

    from center import history
    from center.config.model import BLOCK_SIZE

    center_cfg = parse_config(read_toml(center_config(tmp_path)), str(tmp_path / "center.toml"))
    node = center_cfg.node("branch")
    data = manifest.node_data({"upstream": {"url": "http://127.0.0.1:9", "node": "branch"}},
                              {"config": read_toml(center_cfg.source_path), "sites": list(node.sites)})
    store = Store(tmp_path / "node.sqlite3")
    with store.write() as conn:
        outbox.link(conn, "branch", node.block)
    history.generate(store, parse_config(data), days=2, end=date(2026, 11, 20), progress=False)
    with store.read() as conn:
        low = {t: conn.execute(f"SELECT count(*) FROM {t} WHERE id < ?", (BLOCK_SIZE,)).fetchone()[0]
               for t in ("tickets", "ticket_events", "ticket_procedures")}
        made = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    assert made > 0 and low == {"tickets": 0, "ticket_events": 0, "ticket_procedures": 0}, (made, low)
