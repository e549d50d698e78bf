"""Issue 17, both ways with real servers: a booking made at the hub flows down to the center, a cancellation at the
hub flows down too and the center's cancelled row comes back UP into the hub's synced `bookings` (what the
province's reports count); a hub booking cancelled at the center's desk shows as cancelled at the hub and gives
its place back. Every step is polled with a deadline; a failure prints both ends' bookkeeping."""

from __future__ import annotations

import sqlite3
import time

import psycopg
import requests

from tests.pg_support import pg, pg_db  # noqa: F401 - fixtures
from tests.test_hub_booking import _center_booking, _slots, _tomorrow, _wait_center, world  # noqa: F401

DEADLINE_S = 20  # a pass every 0.2 s and a heartbeat every second: a change crosses in well under this


def _hub_row(dsn: str, code: str) -> tuple | None:
    with psycopg.connect(dsn) as conn:
        return conn.execute("SELECT status, sync_ver FROM bookings WHERE center = 'hoabinh' AND code = %s",
                            (code,)).fetchone()


def _trace(center_db, dsn: str, code: str) -> str:
    """Both ends' view of one booking and of the link, for a failure's message."""
    conn = sqlite3.connect(center_db)
    try:
        link = conn.execute("SELECT acked, bookings_mark, last_ok_at, last_error FROM sync_link").fetchone()
        notes = conn.execute("SELECT seq FROM sync_outbox WHERE tbl = 'bookings' AND key = ?", (code,)).fetchall()
        top = conn.execute("SELECT max(seq) FROM sync_outbox").fetchone()
        row = conn.execute("SELECT status, updated_at FROM bookings WHERE code = ?", (code,)).fetchone()
    finally:
        conn.close()
    with psycopg.connect(dsn) as pg_conn:
        hub = pg_conn.execute("SELECT hwm, last_contact_at FROM hub_centers WHERE center = 'hoabinh'").fetchone()
        made = pg_conn.execute("SELECT status, ver FROM hub_bookings WHERE code = %s", (code,)).fetchone()
    return (f"center: row {row}, link (acked, mark, ok, error) {link}, notes {notes}, top {top}; "
            f"hub: synced {_hub_row(dsn, code)}, hub_bookings {made}, (hwm, contact) {hub}")


def _wait_hub(center_db, dsn: str, code: str, status: str, timeout: float = DEADLINE_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        row = _hub_row(dsn, code)
        if row and row[0] == status:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{code} is not {status} in the hub's synced bookings after {timeout} s: "
                                 + _trace(center_db, dsn, code))
        time.sleep(0.1)


def _book(hub, api: dict, day: str) -> tuple[str, str]:
    """One place booked through the hub's API in a free slot of `day`: (code, slot_at)."""
    free = [s for s in _slots(hub, api, day) if s["left"] > 0]
    assert free, day
    body = {"center": "hoabinh", "site": "main", "service": "CT", "slot_at": free[0]["slot_at"]}
    r = requests.post(hub.url + "/hub/api/bookings", json=body, headers=api, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["code"], free[0]["slot_at"]


def _cancel_at_hub(hub, api: dict, code: str) -> None:
    r = requests.post(hub.url + f"/hub/api/bookings/{code}/cancel", headers=api, timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text


def test_a_hub_cancellation_flows_down_and_comes_back_up(world, pg_db):  # noqa: F811
    """At every moment a cancellation may meet the link: before the booking flowed down, after it flowed down but
    before it came back up, and once the hub holds the center's copy. Each ends cancelled at both ends."""
    hub, center, api = world
    codes = []
    for i in range(9):
        code, _ = _book(hub, api, _tomorrow(4 + i % 3))
        when = i % 3
        if when >= 1:
            _wait_center(center.db, code, "booked")
        if when == 2:
            _wait_hub(center.db, pg_db, code, "booked")
        _cancel_at_hub(hub, api, code)
        codes.append(code)
    for code in codes:
        _wait_center(center.db, code, "cancelled", timeout=DEADLINE_S)
        _wait_hub(center.db, pg_db, code, "cancelled")
        got = requests.get(hub.url + f"/hub/api/bookings/{code}", headers=api, timeout=10).json()
        assert got["status"] == "cancelled", got


def test_a_hub_booking_cancelled_at_the_center_shows_cancelled_at_the_hub(world, pg_db):  # noqa: F811
    """The converse: the center's desk cancels a booking made at the hub; the center's copy comes up, the hub's
    public lookup says cancelled, its place is free again, and the hub no longer offers to cancel it."""
    hub, center, api = world
    day = _tomorrow(8)
    code, slot_at = _book(hub, api, day)
    left = {s["slot_at"]: s["left"] for s in _slots(hub, api, day)}[slot_at]
    _wait_center(center.db, code, "booked")
    r = center.post(f"/api/bookings/{code}/cancel", who="staff1")
    assert r.status_code == 200 and r.json()["status"] == "cancelled", r.text
    _wait_hub(center.db, pg_db, code, "cancelled")
    got = requests.get(hub.url + f"/hub/api/bookings/{code}", headers=api, timeout=10).json()
    assert got["status"] == "cancelled", got
    assert {s["slot_at"]: s["left"] for s in _slots(hub, api, day)}[slot_at] == left + 1
    r = requests.post(hub.url + f"/hub/api/bookings/{code}/cancel", headers=api, timeout=10)
    assert r.status_code == 409 and r.json()["error"] == "already_cancelled", r.text
    time.sleep(1.5)  # a heartbeat or two: nothing flows back down to undo the center's state
    assert _center_booking(center.db, code)[0] == "cancelled"
