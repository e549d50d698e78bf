"""The display's voice follows the queue: in the real display page (Debian's chromium, the server's
espeak-ng audio), against a real server. While a first call is being read, other calls come and end;
what the hall then hears is only what is still current. Timings are measured in benchmarks/bench_voice.py."""

from __future__ import annotations

from typing import Any

import pytest

from tests.display_support import wait_until

STAFF = "staff1"


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1920, "height": 1080}}


@pytest.fixture
def vserver(make_server, tmp_path):
    """The demo config (two readings per call) spoken a little faster, so that a test lasts less."""
    from pathlib import Path

    demo = Path(__file__).resolve().parent.parent / "config.toml"
    path = Path(tmp_path) / "voice-config.toml"
    path.write_text(demo.read_text(encoding="utf-8").replace("rate = 0.8", "rate = 1.0"), encoding="utf-8")
    return make_server(config=path)


def open_display(page: Any, server: Any) -> None:
    page.goto(f"{server.url}/display/main-hall?voice=server#token={server.tokens['main-hall']}")
    wait_until(page, "document.querySelectorAll('#counters .counter').length > 0 && window.xephangSocket.connected")


def op(server: Any, counter: str, action: str, body: dict | None = None) -> dict:
    r = server.post(f"/api/counters/{counter}/{action}", who=STAFF, json=body or {})
    assert r.status_code == 200, r.text
    return r.json()


def call(server: Any, counter: str, service: str = "CT") -> dict:
    """Issue a ticket and call it at `counter` (free)."""
    issued = server.post("/api/tickets", json={"site": "main", "service": service})
    assert issued.status_code == 201, issued.text
    return op(server, counter, "call", {"ticket": issued.json()["id"]})


# The fallbacks (after "||" or ":") let these tests run against a page without window.xephangAnnouncer
# (before issue 13), so that they fail there on what the hall hears, not on a missing name.


def spoken(page: Any) -> list[dict]:
    """Announcements whose number was read (at least one reading)."""
    return [{"again": False, "readings": 1, "call_count": None, **a}
            for a in page.evaluate("window.xephangAnnouncements") if a.get("readings", 1) > 0]


def wait_first_started(page: Any) -> None:
    wait_until(page, "window.xephangAnnouncer ? window.xephangAnnouncer.busy() : "
                     "performance.getEntriesByType('resource').some((e) => e.name.includes('chime.wav'))")


def wait_quiet(page: Any, at_least: int, timeout_s: float = 120) -> None:
    """Until nothing more is queued or playing (or, without the announcer, `at_least` announcements)."""
    wait_until(page, "window.xephangAnnouncer ? !window.xephangAnnouncer.busy() && "
                     f"window.xephangAnnouncer.pending() === 0 : window.xephangAnnouncements.length >= {at_least}",
               timeout_s)


@pytest.mark.browser
def test_a_call_that_ended_before_its_turn_is_never_announced(vserver, page):
    open_display(page, vserver)
    first = call(vserver, "main-1")
    wait_first_started(page)
    no_show = call(vserver, "main-2")
    op(vserver, "main-2", "no-show")
    served = call(vserver, "main-3")
    op(vserver, "main-3", "start")
    op(vserver, "main-3", "finish", {"procedures": ["CT-BS"]})
    transferred = call(vserver, "main-4")
    op(vserver, "main-4", "transfer", {"service": "HT"})
    moved = call(vserver, "main-5")  # no-show at counter 5, then the citizen comes back to counter 6
    op(vserver, "main-5", "no-show")
    op(vserver, "main-6", "call", {"ticket": moved["id"]})
    later = call(vserver, "main-2")  # still called: announced
    assert spoken(page) == [], "the first call should still be playing while the others came and ended"
    wait_quiet(page, 3)
    heard = spoken(page)
    first_time = [(a["number"], a["counter"]) for a in heard if not a["again"]]
    assert first_time == [(first["number"], 1), (moved["number"], 6), (later["number"], 2)], heard
    never = {no_show["number"], served["number"], transferred["number"]}
    assert not [a for a in heard if a["number"] in never], heard
    assert not [a for a in heard if (a["number"], a["counter"]) == (moved["number"], 5)], heard
    # Each still-current call was read twice in all (repeat = 2): at once when nothing else waited, else
    # once in its turn and again when the others had had theirs.
    readings: dict = {}
    for a in heard:
        readings[(a["number"], a["counter"])] = readings.get((a["number"], a["counter"]), 0) + a["readings"]
    assert readings == dict.fromkeys(first_time, 2), heard
    assert heard[0]["form"] == "full" and all(a["form"] == "short" for a in heard[1:]), heard


@pytest.mark.browser
def test_the_queue_never_holds_more_than_the_calls_still_current(vserver, page):
    open_display(page, vserver)
    call(vserver, "main-1")
    wait_first_started(page)
    sizes = []
    last = None
    for _ in range(8):  # a busy counter: call, the citizen does not come, next
        if last is not None:
            op(vserver, "main-2", "no-show")
        last = call(vserver, "main-2")
        sizes.append(len(page.evaluate("window.xephangAnnouncer.queued()")))
    other = call(vserver, "main-3")
    op(vserver, "main-3", "start")  # the citizen is at the desk: nothing left to announce
    shown = "document.querySelector('#counters [data-counter=\"main-3\"] .ct').textContent"
    wait_until(page, f"{shown} === '{other['number']}'")
    queued = wait_until(page, "window.xephangAnnouncer.queued().length <= 1 && window.xephangAnnouncer.queued()", 10)
    assert [(q["number"], q["counter"]) for q in queued] == [(last["number"], 2)], queued
    assert max(sizes) <= 2, sizes  # at most one call per counter besides the one playing


@pytest.mark.browser
def test_a_recall_is_announced_again_but_a_waiting_call_only_once(vserver, page):
    open_display(page, vserver)
    call(vserver, "main-1")
    wait_first_started(page)
    ticket = call(vserver, "main-2")
    op(vserver, "main-2", "recall")  # before its first announcement: one announcement, the recall
    wait_quiet(page, 3)
    mine = [a for a in spoken(page) if a["number"] == ticket["number"] and not a["again"]]
    assert [(a["call_count"], a["recall"]) for a in mine] == [(2, True)], mine
    op(vserver, "main-2", "recall")  # after it was announced: a new call, announced again
    # The page is quiet when the recall is made: wait for the recall to reach it before waiting for quiet.
    wait_until(page, "window.xephangAnnouncements.some((a) => a.number === "
                     f"'{ticket['number']}' && a.call_count === 3)", 60)
    wait_quiet(page, 4)
    mine = [a for a in spoken(page) if a["number"] == ticket["number"] and not a["again"]]
    assert [(a["call_count"], a["recall"]) for a in mine] == [(2, True), (3, True)], mine
    assert mine[1]["form"] == "full" and mine[1]["chime"] is True  # alone: chime and the whole sentence


def test_announce_wav_serves_each_reading_alone(server):
    import requests

    from center.output.voice import wav_stats

    def get(**params):
        return requests.get(server.url + "/display/announce.wav", params={"number": "A023", "counter": "3", **params},
                            timeout=30, headers={"Accept": "application/json"})

    full, once, short = (wav_stats(get(form=f).content)[0] for f in ("full", "once", "short"))
    assert short < once < full / 1.8, (short, once, full)  # the short sentence; one reading; two readings
    text = requests.get(server.url + "/display/announce.txt", params={"number": "A023", "counter": "3"}, timeout=10)
    assert text.json()["short_text"] == "Mời số a, hai mươi ba đến quầy ba"
    assert get(form="song").status_code == 422 and get(form="song").json()["error"] == "bad_form"
    assert get(form="en").status_code == 404  # the demo config has no English line
