"""Issue 17: the hub offers exactly the places the center itself offers. The center sends its booking plan (its
measured places per slot and its walk-ins' measured waits by slot start, center/queue/bookings.py `booking_plan`)
with its link when the hub holds another hash; the hub keeps it (`hub_booking_plans`) and counts each slot with the
center's own `slot_places`. Checked on real servers and a real PostgreSQL: the hub's slots equal the center's
GET /api/bookings/slots slot by slot, busy slots (no places) included, and a changed plan reaches the hub."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
import requests

from center.errors import Invalid
from center.hub import booking
from center.hub.config import load_hub_config
from center.hub.ingest import ensure_schema
from center.queue.actors import Actor
from center.queue.bookings import BUSY_MIN_TICKETS, PLAN_VERSION, places_in_slot
from center.queue.clock import to_iso
from center.sync import labels
from tests.conftest import Server, cli
from tests.hub_booking_support import busy_past_days
from tests.hub_support import HubServer, center_with_hub, hub_cli, hub_config
from tests.pg_support import pg, pg_db  # noqa: F401 - fixtures

STAFF = Actor("canbo", "staff")
VN = ZoneInfo("Asia/Ho_Chi_Minh")
DEADLINE_S = 30


def set_booking(engine, **changes) -> None:
    engine.config = dataclasses.replace(engine.config, booking=dataclasses.replace(engine.config.booking, **changes))


def walk_ins(engine, *, days_ago: int, hhmm: str, wait_min: float, n: int = BUSY_MIN_TICKETS) -> None:
    """`n` walk-ins of CT at main at `hhmm` `days_ago` days before the engine's day, called `wait_min` later and
    served 5 minutes each at main-1; the clock comes back where it was."""
    start = engine.clock.now
    local = start.astimezone(VN)
    h, m = map(int, hhmm.split(":"))
    engine.clock.now = (local - timedelta(days=days_ago)).replace(hour=h, minute=m)
    ids = [engine.issue("main", "CT")["id"] for _ in range(n)]
    engine.clock.advance(minutes=wait_min)
    for _ in ids:
        assert engine.call_next("main-1", STAFF)["id"] in ids
        engine.clock.advance(minutes=5)
        engine.finish("main-1", STAFF, ["CT-BS"])
    engine.clock.now = start


def _plan(engine) -> dict:
    with engine.store.read() as conn:
        return engine.booking_plan(conn)


# ------------------------------------------------------------------------------------------------ the plan's shape


def test_the_plan_carries_the_measured_rate_and_waits_and_passes_the_hubs_check(engine):
    walk_ins(engine, days_ago=1, hhmm="09:05", wait_min=70)
    walk_ins(engine, days_ago=2, hhmm="14:10", wait_min=40)
    plan = _plan(engine)
    site = engine.site("main")
    with engine.store.read() as conn:
        rate = engine.slot_rate(conn, site, "CT")
    ct = plan["sites"]["main"]["services"]["CT"]
    counters = sum(1 for c in site.counters if "CT" in c.services)
    assert ct["rate"] == rate == pytest.approx(counters * 30 / 5 * 0.3)  # measured: 5 minutes each, not 4.5
    assert set(ct["waits"]) == {"09:00", "14:00"} and ct["waits"]["09:00"] > 70
    assert plan["sites"]["main"]["day"] == engine.today(site)
    assert (plan["busy_wait_min"], plan["busy_days"], plan["slot_min"], plan["version"]) == (30, 28, 30, PLAN_VERSION)
    assert booking.check_plan(json.loads(json.dumps(plan))) == plan  # as it comes through the wire
    assert _plan(engine)["hash"] == plan["hash"]  # the same contents, the same hash
    set_booking(engine, busy_wait_min=20)
    assert _plan(engine)["hash"] != plan["hash"]


def _bad(plan: dict, change) -> dict:
    out = copy.deepcopy(plan)
    change(out)
    return out


BAD_PLANS = {
    "not an object": lambda p: p.clear(),
    "no hash": lambda p: p.pop("hash"),
    "hash not text": lambda p: p.update(hash=12),
    "hash too long": lambda p: p.update(hash="x" * 65),
    "another version": lambda p: p.update(version=PLAN_VERSION + 1),
    "slot_min a float": lambda p: p.update(slot_min=30.0),
    "slot_min out of range": lambda p: p.update(slot_min=1),
    "busy_wait_min text": lambda p: p.update(busy_wait_min="30"),
    "busy_wait_min negative": lambda p: p.update(busy_wait_min=-1),
    "busy_days a bool": lambda p: p.update(busy_days=True),
    "sites a list": lambda p: p.update(sites=[]),
    "site not an object": lambda p: p["sites"].update(main=[1]),
    "site without day": lambda p: p["sites"]["main"].pop("day"),
    "site day not a date": lambda p: p["sites"]["main"].update(day="tomorrow"),
    "services a list": lambda p: p["sites"]["main"].update(services=["CT"]),
    "rate missing": lambda p: p["sites"]["main"]["services"]["CT"].pop("rate"),
    "rate negative": lambda p: p["sites"]["main"]["services"]["CT"].update(rate=-0.5),
    "rate not finite": lambda p: p["sites"]["main"]["services"]["CT"].update(rate=float("nan")),
    "rate a bool": lambda p: p["sites"]["main"]["services"]["CT"].update(rate=True),
    "waits a list": lambda p: p["sites"]["main"]["services"]["CT"].update(waits=[70]),
    "wait at no time": lambda p: p["sites"]["main"]["services"]["CT"]["waits"].update({"9h": 70}),
    "wait at 24:00": lambda p: p["sites"]["main"]["services"]["CT"]["waits"].update({"24:00": 70}),
    "wait negative": lambda p: p["sites"]["main"]["services"]["CT"]["waits"].update({"10:00": -1}),
    "wait infinite": lambda p: p["sites"]["main"]["services"]["CT"]["waits"].update({"10:00": float("inf")}),
    "wait text": lambda p: p["sites"]["main"]["services"]["CT"]["waits"].update({"10:00": "70"}),
    "too many waits": lambda p: p["sites"]["main"]["services"]["CT"].update(
        waits={f"{h:02d}:{m:02d}": 1.0 for h in range(24) for m in range(60)} | {"x": 1}),
    "too many sites": lambda p: p["sites"].update({f"s{i}": p["sites"]["main"] for i in range(1001)}),
    "empty site code": lambda p: p["sites"].update({"": p["sites"]["main"]}),
}


@pytest.mark.parametrize("case", sorted(BAD_PLANS))
def test_the_hub_refuses_a_plan_of_another_shape_as_a_bad_batch(engine, case):
    walk_ins(engine, days_ago=1, hhmm="09:05", wait_min=70)
    plan = _plan(engine)
    with pytest.raises(Invalid) as e:
        booking.check_plan(_bad(plan, BAD_PLANS[case]) if case != "not an object" else [plan])
    assert e.value.code == "bad_batch" and e.value.message_en == "malformed booking plan"


def test_extra_keys_are_dropped_and_a_plan_is_not_a_list():
    plan = {"version": PLAN_VERSION, "hash": "h", "slot_min": 30, "busy_wait_min": 30, "busy_days": 28,
            "extra": "x", "sites": {"main": {"day": "2026-11-23", "note": 1,
                                             "services": {"CT": {"rate": 1.5, "waits": {}, "more": 2}}}}}
    assert booking.check_plan(plan) == {"version": PLAN_VERSION, "hash": "h", "slot_min": 30, "busy_wait_min": 30,
                                        "busy_days": 28, "sites": {"main": {"day": "2026-11-23", "services": {
                                            "CT": {"rate": 1.5, "waits": {}}}}}}
    for bad in (None, "plan", 3, [plan]):
        with pytest.raises(Invalid):
            booking.check_plan(bad)
    huge = copy.deepcopy(plan)  # a measured rate or a wait is never refused for its size: the records would stop
    huge["sites"]["main"]["services"]["CT"] = {"rate": 1e6, "waits": {"09:00": 5e6}}
    assert booking.check_plan(huge)["sites"]["main"]["services"]["CT"]["rate"] == 1e6


# ------------------------------------------------------------------------------------------------ the hub's count


@pytest.fixture
def hub_db(pg, tmp_path):  # noqa: F811
    """A fresh hub database (schema made as the hub makes it) and the hub's config."""
    dsn = pg.new_database("hub_booking_plan_unit")
    cfg = load_hub_config(hub_config(tmp_path, dsn))
    with psycopg.connect(dsn, autocommit=True) as conn:
        ensure_schema(conn)
        yield conn, cfg


def _send(conn, engine, *, plan: bool = True) -> None:
    """What the center's link does: labels, and the plan (through JSON, as on the wire)."""
    lab = labels.build(engine.config)
    conn.execute("INSERT INTO hub_labels (center, hash, labels, at) VALUES ('hoabinh', %s, %s, now()) ON CONFLICT "
                 "(center) DO UPDATE SET hash = excluded.hash, labels = excluded.labels",
                 (lab["hash"], json.dumps(lab)))
    if plan:
        booking.store_plan(conn, "hoabinh", json.loads(json.dumps(_plan(engine))), engine.clock())


def _same_places(conn, cfg, engine, days: int = 7) -> int:
    """The hub's places (from what it keeps) against the center's `slots`, every slot of `days` days from the
    engine's, at both sites and every bookable service; returns the busy slots seen (no places, walk-ins wait)."""
    busy = 0
    first = date.fromisoformat(engine.today(engine.site("main")))
    for key in ("hoabinh:main", "hoabinh:branch"):
        p = booking.place(conn, cfg, key)
        assert p.plan is not None
        for service in p.services:
            for d in (first + timedelta(days=i) for i in range(days)):
                center = engine.slots(p.site, service, d.isoformat())
                hub = p.day_places(service, d)
                assert [(s["slot_at"], s["capacity"]) for s in center] == [
                    (to_iso(t), n) for t, n in hub], (key, service, d)
                busy += sum(1 for s in center if s["capacity"] == 0 and s["walkin_wait_min"])
    return busy


def test_the_hub_counts_every_slot_as_the_center_does(engine, hub_db):
    conn, cfg = hub_db
    walk_ins(engine, days_ago=1, hhmm="09:05", wait_min=70)  # 09:00: past twice the limit, no places
    walk_ins(engine, days_ago=3, hhmm="10:35", wait_min=36)  # 10:30: a little past, some places
    walk_ins(engine, days_ago=6, hhmm="15:00", wait_min=15)  # 15:00: under the limit, every place
    _send(conn, engine)
    assert _same_places(conn, cfg, engine) >= 7  # 09:00 on each of the 7 days
    p = booking.place(conn, cfg, "hoabinh:main")
    tomorrow = date.fromisoformat(engine.today(engine.site("main"))) + timedelta(days=1)
    caps = {t.astimezone(VN).strftime("%H:%M"): n for t, n in p.day_places("CT", tomorrow)}
    assert caps["09:00"] == 0 and 0 < caps["10:30"] < max(caps.values())

    set_booking(engine, busy_wait_min=20)  # a setting changed at the center: its next plan
    _send(conn, engine)
    assert _same_places(conn, cfg, engine, days=2) >= 2
    set_booking(engine, busy_wait_min=0, capacity={"CT": 3})  # the rule off, a figure set by hand
    _send(conn, engine)
    assert _same_places(conn, cfg, engine, days=2) == 0
    assert {n for _, n in booking.place(conn, cfg, "hoabinh:main").day_places("CT", tomorrow)} == {3}


def test_a_center_that_never_sent_a_plan_is_counted_from_its_labels(engine, hub_db):
    conn, cfg = hub_db
    walk_ins(engine, days_ago=1, hhmm="09:05", wait_min=70)
    _send(conn, engine, plan=False)
    p = booking.place(conn, cfg, "hoabinh:main")
    assert p.plan is None
    minutes = engine.config.services["CT"].default_service_min
    rate = sum(1 for c in engine.site("main").counters if "CT" in c.services) * 30 / minutes * 0.3
    assert p.rate("CT") == pytest.approx(rate)
    day = date.fromisoformat(engine.today(engine.site("main"))) + timedelta(days=1)
    caps = [n for _, n in p.day_places("CT", day)]
    assert caps == [places_in_slot(rate, i) for i in range(len(caps))]  # as before plans: the labels' formula
    assert all(n > 0 for n in caps)  # no slot is known busy without the center's waits


def test_the_link_builds_the_plan_again_after_an_hour_or_at_a_new_day(engine, tmp_path, monkeypatch):
    from center.config.read import load_config
    from center.sync import link

    cfg = load_config(center_with_hub(tmp_path, "http://127.0.0.1:9"))
    walk_ins(engine, days_ago=1, hhmm="09:05", wait_min=70)
    lk = link.Link(engine.store, cfg, str(tmp_path / "queue.sqlite3"), clock=engine.clock)
    first = lk.booking_plan()
    assert first["sites"]["main"]["services"]["CT"]["waits"]
    walk_ins(engine, days_ago=2, hhmm="10:05", wait_min=70)  # new evidence: not read again within the hour
    engine.clock.advance(minutes=40)
    assert lk.booking_plan() is first
    engine.clock.advance(minutes=25)  # over an hour since it was built
    again = lk.booking_plan()
    assert again is not first and "10:00" in again["sites"]["main"]["services"]["CT"]["waits"]
    monkeypatch.setattr(link, "PLAN_S", 1e9)  # from here on only a new day builds it again
    before_midnight = lk.booking_plan()
    engine.clock.advance(hours=5)
    assert lk.booking_plan() is before_midnight
    engine.clock.advance(hours=19)  # a new day: the window of past days moved
    new_day = lk.booking_plan()
    assert new_day is not before_midnight and new_day["hash"] != before_midnight["hash"]
    assert new_day["sites"]["main"]["day"] == (date.fromisoformat(before_midnight["sites"]["main"]["day"])
                                               + timedelta(days=1)).isoformat()
    from center.queue.bookings import Planner

    calls = []

    def broken(self, conn):
        calls.append(1)
        raise RuntimeError("disk gone")

    monkeypatch.setattr(link, "PLAN_S", 3600)
    monkeypatch.setattr(Planner, "booking_plan", broken)
    engine.clock.advance(days=1)
    with pytest.raises(RuntimeError):
        lk.booking_plan()
    engine.clock.advance(seconds=30)
    assert lk.booking_plan() is new_day and len(calls) == 1  # the last good plan, not a build every pass
    engine.clock.advance(seconds=31)
    with pytest.raises(RuntimeError):
        lk.booking_plan()  # a minute later: tried again
    assert len(calls) == 2
    off = dataclasses.replace(cfg, booking=dataclasses.replace(cfg.booking, enabled=False))
    assert link.Link(engine.store, off, str(tmp_path / "queue.sqlite3"), clock=engine.clock).booking_plan() is None


# ------------------------------------------------------------------------------------------------ real servers


def _tomorrow() -> str:
    return (datetime.now(VN).date() + timedelta(days=1)).isoformat()


@pytest.fixture(scope="module")
def world(tmp_path_factory, accounts_template, pg_db):  # noqa: F811
    """A hub, and center hoabinh with three past days where CT's walk-ins waited long at 09:00 (70 min and more)
    and somewhat at 14:00 (about 40), joined to it."""
    tmp = tmp_path_factory.mktemp("hub-booking-plan")
    hub = HubServer(hub_config(tmp, pg_db)).start()
    cfg = center_with_hub(tmp, hub.url)
    db = tmp / "center.sqlite3"
    shutil.copyfile(accounts_template[0], db)
    secret = accounts_template[0].with_suffix(".secret")
    if secret.exists():
        shutil.copyfile(secret, db.with_suffix(".secret"))
    busy_past_days(db, cfg, {"09:05": 70, "14:10": 30})
    center = Server(db=db, config=cfg, tokens=dict(accounts_template[1]),
                    env={"XEPHANG_SYNC_PASS_S": "0.2", "XEPHANG_SYNC_HEARTBEAT_S": "1"}).start()
    try:
        token = hub_cli(hub.config, "token", "hoabinh").strip().splitlines()[-1]
        cli(center.db, "sync", "join", "--config", str(cfg), stdin=token + "\n")
        system = hub_cli(hub.config, "api-token", "dvc-tinh").strip().splitlines()[-1]
        _hub_plan(pg_db, lambda plan: plan is not None)
        yield hub, center, cfg, {"Authorization": f"Bearer {system}"}
    finally:
        center.stop()
        hub.stop()


def _hub_plan(dsn: str, ready) -> dict:
    deadline = time.monotonic() + DEADLINE_S
    with psycopg.connect(dsn, autocommit=True) as conn:
        while True:
            row = conn.execute("SELECT plan, at FROM hub_booking_plans WHERE center = 'hoabinh'").fetchone()
            if ready(row[0] if row else None):
                return {**row[0], "at": row[1]}
            assert time.monotonic() < deadline, f"the hub's plan: {row}"
            time.sleep(0.2)


def _both(hub: HubServer, center: Server, api: dict, service: str, day: str) -> tuple[list, list]:
    at_center = center.get(f"/api/bookings/slots?site=main&service={service}&day={day}", who="staff1")
    at_hub = requests.get(hub.url + "/hub/api/booking-slots", params={"center": "hoabinh", "site": "main",
                                                                      "service": service, "day": day},
                          headers=api, timeout=10)
    assert at_center.status_code == 200 and at_hub.status_code == 200, (at_center.text, at_hub.text)
    return at_center.json()["slots"], at_hub.json()["slots"]


def test_the_hubs_slots_are_the_centers_slot_by_slot_busy_ones_included(world):
    hub, center, _, api = world
    for service in ("CT", "HT"):
        mine, hubs = _both(hub, center, api, service, _tomorrow())
        assert [(s["slot_at"], s["capacity"]) for s in mine] == [(s["slot_at"], s["capacity"]) for s in hubs]
    by_time = {s["time"]: s for s in _both(hub, center, api, "CT", _tomorrow())[0]}
    assert by_time["09:00"]["capacity"] == 0 and by_time["09:00"]["walkin_wait_min"] >= 70
    assert 0 < by_time["14:00"]["capacity"] < by_time["12:00"]["capacity"]  # ~40 min: part of the places
    assert by_time["12:00"]["walkin_wait_min"] is None
    assert by_time["12:00"]["capacity"] == 6  # 4 counters × 30 ÷ 6 measured minutes × 0.3 (not the default 4.5's 8)


def test_the_hub_refuses_a_busy_slot_and_fills_a_slot_to_the_centers_capacity(world):
    hub, center, _, api = world
    day = (datetime.now(VN).date() + timedelta(days=2)).isoformat()
    mine, hubs = _both(hub, center, api, "CT", day)
    busy = next(s for s in hubs if s["time"] == "09:00")
    body = {"center": "hoabinh", "site": "main", "service": "CT", "slot_at": busy["slot_at"]}
    r = requests.post(hub.url + "/hub/api/bookings", json=body, headers=api, timeout=10)
    assert r.status_code == 409 and r.json()["error"] == "slot_full"
    partial = next(s for s in mine if s["time"] == "14:00")
    codes = []
    for _ in range(partial["capacity"]):
        r = requests.post(hub.url + "/hub/api/bookings", json={**body, "slot_at": partial["slot_at"]}, headers=api,
                          timeout=10)
        assert r.status_code == 201, r.text
        codes.append(r.json()["code"])
    r = requests.post(hub.url + "/hub/api/bookings", json={**body, "slot_at": partial["slot_at"]}, headers=api,
                      timeout=10)
    assert r.status_code == 409 and r.json()["error"] == "slot_full"
    deadline = time.monotonic() + DEADLINE_S
    while True:  # they flow down, and the center counts the slot full as well
        slot = next(s for s in _both(hub, center, api, "CT", day)[0] if s["time"] == "14:00")
        if slot["booked"] == len(codes) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert (slot["booked"], slot["free"]) == (len(codes), 0)


def test_an_unchanged_plan_is_not_sent_again_and_a_changed_one_reaches_the_hub(world, pg_db):  # noqa: F811
    hub, center, cfg, api = world
    kept = _hub_plan(pg_db, lambda plan: plan is not None)
    time.sleep(3)  # three heartbeats
    assert _hub_plan(pg_db, lambda plan: plan is not None)["at"] == kept["at"]
    assert kept["busy_wait_min"] == 30
    text = cfg.read_text(encoding="utf-8")
    cfg.write_text(text.replace("busy_wait_min = 30", "busy_wait_min = 20", 1), encoding="utf-8")
    try:
        center.restart()
        changed = _hub_plan(pg_db, lambda plan: plan is not None and plan["busy_wait_min"] == 20)
        assert changed["hash"] != kept["hash"]
        mine, hubs = _both(hub, center, api, "CT", _tomorrow())
        assert [(s["slot_at"], s["capacity"]) for s in mine] == [(s["slot_at"], s["capacity"]) for s in hubs]
        assert next(s for s in hubs if s["time"] == "14:00")["capacity"] == 0  # ~40 min: now past twice 20
    finally:
        cfg.write_text(text, encoding="utf-8")


def test_a_push_with_a_malformed_plan_is_refused_as_a_bad_batch_and_the_plan_kept(world, pg_db):  # noqa: F811
    from center.storage.outbox import Batch
    from center.sync.protocol import CONTENT_TYPE, encode

    hub, center, _, _ = world
    kept = _hub_plan(pg_db, lambda plan: plan is not None)
    token = center.db.with_suffix(".hub-token").read_text().strip()
    heartbeat = Batch.from_dict({"node": "hoabinh", "after": 0, "to": 0, "ver": 0})
    bad = {**{k: v for k, v in kept.items() if k != "at"}, "hash": "not-the-centers", "sites": {"main": []}}
    r = requests.post(hub.url + "/sync/push", data=encode(heartbeat, {"booking_plan": bad}), timeout=10,
                      headers={"Authorization": f"Bearer {token}", "Content-Type": CONTENT_TYPE})
    assert r.status_code == 422 and r.json()["error"] == "bad_batch", r.text
    assert _hub_plan(pg_db, lambda plan: plan is not None)["hash"] == kept["hash"]
