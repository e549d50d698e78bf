"""A small fixed day created through the real engine, with figures worked out by hand in the tests.

Monday 2026-11-23 at site "main" (local time, UTC+7); the FakeClock starts at 09:00 local.

  09:00 T1 CT issued   09:10 main-1/staff1 calls T1 (wait 600)   09:11 start   09:15 finish CT-BS (240)
  09:02 T2 CT issued   09:15 main-1 calls T2 (wait 780)          09:16 start   09:22 finish CT-BS 200 + CT-CK 160
  09:04 T3 HT issued   09:30 main-3/staff2 calls T3 (wait 1560)  09:32 no-show
  09:05 T4 CT issued   09:32 main-3 calls T4 (wait 1620)         09:33 start   09:35 transfer to HT (keeps place)
                       09:36 main-3 calls T4' (HT, wait 1860 from 09:05)  09:37 start  09:49 finish HT-KS (720)
  09:40 T5 CC issued   09:50 marked left
  09:50 T6 TKQ issued  10:00 day closed: T6 cancelled
Ratings: T1 very_satisfied (main-1, staff1), T2 satisfied (main-1, staff1), T4' unsatisfied (main-3, staff2).
"""

from __future__ import annotations

import json
import re

import requests

from center.queue.actors import Actor

DAY = "2026-11-23"
STAFF1 = Actor("staff1", "staff")
STAFF2 = Actor("staff2", "staff")


def rate(engine, ticket_id: int, level: str) -> None:
    t = engine.get_ticket(ticket_id, private=True)
    with engine.store.write() as conn:
        conn.execute("INSERT INTO ratings (ticket_id, site, counter_id, staff, level, reasons, at) "
                     "VALUES (?,?,?,?,?,?,?)", (ticket_id, t["site"], t["counter"]["id"], t["staff"], level,
                                               json.dumps([]), t["ended_at"]))


def build_fixed_day(engine, clock) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids["T1"] = engine.issue("main", "CT")["id"]
    clock.advance(minutes=2)
    ids["T2"] = engine.issue("main", "CT")["id"]
    clock.advance(minutes=2)
    ids["T3"] = engine.issue("main", "HT")["id"]
    clock.advance(minutes=1)
    ids["T4"] = engine.issue("main", "CT")["id"]
    clock.advance(minutes=5)  # 09:10
    assert engine.call_next("main-1", STAFF1)["id"] == ids["T1"]
    clock.advance(minutes=1)
    engine.start("main-1", STAFF1)
    clock.advance(minutes=4)  # 09:15
    engine.finish("main-1", STAFF1, ["CT-BS"])
    assert engine.call_next("main-1", STAFF1)["id"] == ids["T2"]
    clock.advance(minutes=1)
    engine.start("main-1", STAFF1)
    clock.advance(minutes=6)  # 09:22
    engine.finish("main-1", STAFF1, [{"code": "CT-BS", "seconds": 200}, {"code": "CT-CK", "seconds": 160}])
    clock.advance(minutes=8)  # 09:30
    assert engine.call_next("main-3", STAFF2)["id"] == ids["T3"]
    clock.advance(minutes=2)  # 09:32
    engine.no_show("main-3", STAFF2)
    assert engine.call_next("main-3", STAFF2)["id"] == ids["T4"]
    clock.advance(minutes=1)
    engine.start("main-3", STAFF2)
    clock.advance(minutes=2)  # 09:35
    ids["T4b"] = engine.transfer("main-3", STAFF2, service="HT", keep_place=True)["id"]
    clock.advance(minutes=1)  # 09:36
    assert engine.call_next("main-3", STAFF2)["id"] == ids["T4b"]
    clock.advance(minutes=1)
    engine.start("main-3", STAFF2)
    clock.advance(minutes=3)  # 09:40
    ids["T5"] = engine.issue("main", "CC")["id"]
    clock.advance(minutes=9)  # 09:49
    engine.finish("main-3", STAFF2, ["HT-KS"])
    clock.advance(minutes=1)  # 09:50
    engine.mark_left(ids["T5"], STAFF2)
    ids["T6"] = engine.issue("main", "TKQ")["id"]
    clock.advance(minutes=10)  # 10:00
    engine.close_day("main")
    rate(engine, ids["T1"], "very_satisfied")
    rate(engine, ids["T2"], "satisfied")
    rate(engine, ids["T4b"], "unsatisfied")
    return ids


def fixed_day_server(directory):
    """A real server on a database holding the fixed day above (module-scoped fixtures stop it)."""
    from center.config.read import load_config
    from center.queue.engine import Engine
    from center.storage.store import Store
    from tests.conftest import DEMO_CONFIG, FakeClock, Server, prepare_accounts

    db = directory / "center.sqlite3"
    tokens = prepare_accounts(db)
    clock = FakeClock()
    store = Store(db)
    build_fixed_day(Engine(store, load_config(DEMO_CONFIG), clock=clock), clock)
    store.close()
    return Server(db=db, config=DEMO_CONFIG, tokens=tokens).start()


def login(srv, user: str) -> requests.Session:
    """A signed-in staff session (cookie and CSRF token) as `user`."""
    from tests.conftest import PASSWORD

    s = requests.Session()
    page = s.get(srv.url + "/login", timeout=10).text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page).group(1)
    r = s.post(srv.url + "/login", data={"username": user, "password": PASSWORD, "csrf_token": token}, timeout=10,
               allow_redirects=False)
    assert r.status_code == 302
    return s
