"""The queue engine on a real SQLite file with a hand-moved clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from center.errors import Conflict, Invalid, NotFound
from center.queue.actors import Actor

STAFF = Actor("staff1", "staff")
OTHER = Actor("staff2", "staff")


def test_numbers_follow_each_service_format(engine):
    assert [engine.issue("main", "CT")["number"] for _ in range(3)] == ["A001", "A002", "A003"]
    assert engine.issue("main", "TKQ")["number"] == "9001"
    assert engine.issue("main", "HT")["number"] == "B001"
    assert engine.issue("branch", "CT")["number"] == "A001"  # each site numbers on its own


def test_numbering_restarts_at_local_day_start_not_utc_midnight(engine, clock):
    clock.now = datetime(2026, 11, 23, 16, 30, tzinfo=UTC)  # 23:30 local, Monday
    assert engine.issue("main", "CT")["number"] == "A001"
    clock.now = datetime(2026, 11, 23, 23, 59, tzinfo=UTC)  # past UTC midnight? no: 06:59 local Tuesday
    t = engine.issue("main", "CT")
    assert t["service_day"] == "2026-11-24" and t["number"] == "A001"
    clock.now = datetime(2026, 11, 24, 0, 30, tzinfo=UTC)  # UTC midnight passed, still Tuesday 07:30 local
    t = engine.issue("main", "CT")
    assert t["service_day"] == "2026-11-24" and t["number"] == "A002"


def test_series_wraps_around_without_reusing_a_sequence(engine, demo_config):
    fmt = demo_config.number_format("main", "TKQ")
    assert fmt.format(1) == "9001" and fmt.format(999) == "9999" and fmt.format(1000) == "9001"


def test_call_next_is_first_come_first_served_within_a_service(engine, clock):
    a = engine.issue("main", "CT")
    clock.advance(seconds=5)
    b = engine.issue("main", "CT")
    assert engine.call_next("main-1", STAFF)["id"] == a["id"]
    engine.finish("main-1", STAFF, ["CT-BS"])
    assert engine.call_next("main-1", STAFF)["id"] == b["id"]


def test_counter_prefers_its_first_service(engine, clock):
    tkq = engine.issue("main", "TKQ")
    clock.advance(seconds=5)
    ct = engine.issue("main", "CT")
    # main-1 serves CT first, then TKQ: the later CT ticket goes first.
    assert engine.call_next("main-1", STAFF)["id"] == ct["id"]
    engine.no_show("main-1", STAFF)
    assert engine.call_next("main-1", STAFF)["id"] == tkq["id"]


def test_call_next_returns_none_when_nobody_waits_for_the_counter(engine):
    engine.issue("main", "DD")  # only main-5 serves land
    assert engine.call_next("main-1", STAFF) is None


def test_strict_priority_always_first(engine, clock):
    engine.config = _with_rules(engine.config, priority_policy="strict")
    normal = [engine.issue("main", "CT") for _ in range(3)]
    clock.advance(seconds=10)
    prio = engine.issue("main", "CT", priority="elderly")
    order = []
    for _ in range(4):
        order.append(engine.call_next("main-1", STAFF)["id"])
        engine.finish("main-1", STAFF, ["CT-BS"])
    assert order == [prio["id"]] + [t["id"] for t in normal]


def test_interleaved_priority_one_in_every_n_plus_one(engine, clock):
    # interleave_every = 2 in the demo: P, N, N, P, N, N ...
    normal = [engine.issue("main", "CT")["id"] for _ in range(4)]
    clock.advance(seconds=1)
    prio = [engine.issue("main", "CT", priority="pregnant")["id"] for _ in range(2)]
    order = []
    for _ in range(6):
        order.append(engine.call_next("main-1", STAFF)["id"])
        engine.finish("main-1", STAFF, ["CT-BS"])
    assert order == [prio[0], normal[0], normal[1], prio[1], normal[2], normal[3]]


def test_aging_lets_a_long_wait_go_before_priority(engine, clock):
    engine.config = _with_rules(engine.config, priority_policy="strict")
    old = engine.issue("main", "CT")
    clock.advance(minutes=31)  # past aging_min = 30
    prio = engine.issue("main", "CT", priority="elderly")
    assert engine.call_next("main-1", STAFF)["id"] == old["id"]
    engine.finish("main-1", STAFF, ["CT-BS"])
    assert engine.call_next("main-1", STAFF)["id"] == prio["id"]


def test_a_counter_holds_one_ticket_and_refuses_another_call(engine):
    engine.issue("main", "CT")
    engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    with pytest.raises(Conflict) as e:
        engine.call_next("main-1", STAFF)
    assert e.value.code == "counter_busy"


def test_another_staff_member_cannot_use_a_held_counter(engine):
    engine.issue("main", "CT")
    engine.take_counter("main-1", STAFF)
    with pytest.raises(Conflict) as e:
        engine.call_next("main-1", OTHER)
    assert e.value.code == "counter_taken"


def test_stale_screen_action_is_refused(engine):
    a = engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    with pytest.raises(Conflict) as e:
        engine.finish("main-1", STAFF, ["CT-BS"], expect=a["id"] + 100)
    assert e.value.code == "stale_ticket"


def test_recall_is_counted_and_announced_again(engine):
    engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    engine.events.clear()
    t = engine.recall("main-1", STAFF)
    assert t["call_count"] == 2 and t["status"] == "called"
    called = [e for e in engine.events if e.name == "ticket.called"]
    assert len(called) == 1 and called[0].payload["recall"] is True


def test_no_show_then_called_again_when_the_citizen_returns(engine):
    t = engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    assert engine.no_show("main-1", STAFF)["status"] == "no_show"
    again = engine.call_ticket("main-2", STAFF, number=t["number"])
    assert again["id"] == t["id"] and again["status"] == "called" and again["counter"]["id"] == "main-2"


def test_call_specific_number_out_of_order(engine):
    engine.issue("main", "CT")
    second = engine.issue("main", "CT")
    assert engine.call_ticket("main-1", STAFF, number="a002")["id"] == second["id"]


def test_a_ticket_cannot_be_called_at_two_counters(engine):
    t = engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    with pytest.raises(Conflict) as e:
        engine.call_ticket("main-2", OTHER, ticket_id=t["id"])
    assert e.value.code == "already_called" and "quầy 1" in e.value.message


def test_finish_records_each_procedure_with_its_own_time(engine, clock):
    engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    clock.advance(seconds=30)
    engine.start("main-1", STAFF)
    clock.advance(seconds=120)
    engine.mark_procedure("main-1", STAFF, "CT-BS")
    clock.advance(seconds=200)
    done = engine.finish("main-1", STAFF, ["CT-BS", "CT-CK"])
    assert done["status"] == "served" and done["service_s"] == 320
    times = {p["code"]: p["seconds"] for p in done["procedures"]}
    assert times == {"CT-BS": 120, "CT-CK": 200}
    assert done["wait_s"] == 0.0


def test_finish_rejects_a_procedure_of_another_service(engine):
    engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    with pytest.raises(Invalid):
        engine.finish("main-1", STAFF, ["HT-KS"])
    with pytest.raises(Invalid):
        engine.finish("main-1", STAFF, [])


def test_transfer_keeps_place_and_number_and_links_history(engine, clock):
    first = engine.issue("main", "CT")
    clock.advance(seconds=10)
    ht_waiting = engine.issue("main", "HT")
    engine.call_next("main-1", STAFF)
    moved = engine.transfer("main-1", STAFF, service="HT", note="cần đăng ký khai sinh")
    assert moved["number"] == first["number"] and moved["service"] == "HT"
    assert moved["transferred_from"] == first["id"] and moved["status"] == "waiting"
    assert engine.get_ticket(first["id"])["status"] == "transferred"
    # kept its place: issued before the HT ticket, so called first at the civil-status counter
    assert engine.call_next("main-3", OTHER)["id"] == moved["id"]
    assert engine.call_next("main-4", Actor("staff3", "staff"))["id"] == ht_waiting["id"]


def test_transfer_to_a_counter_joins_the_end_when_asked(engine, clock):
    engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    clock.advance(seconds=5)
    other = engine.issue("main", "CT")
    moved = engine.transfer("main-1", STAFF, to_counter="main-2", keep_place=False)
    assert moved["target_counter"]["id"] == "main-2"
    # targeted at main-2 only: main-1 does not see it, main-2 takes it before its service queue
    assert engine.call_next("main-1", STAFF)["id"] == other["id"]
    assert engine.call_next("main-2", OTHER)["id"] == moved["id"]


def test_pause_and_resume_with_reason(engine):
    engine.issue("main", "CT")
    c = engine.pause("main-1", STAFF, "meeting")
    assert c["status"] == "paused" and c["pause_reason"] == "meeting"
    with pytest.raises(Conflict):
        engine.call_next("main-1", STAFF)
    assert engine.resume("main-1", STAFF)["status"] == "open"
    assert engine.call_next("main-1", STAFF) is not None
    with pytest.raises(Invalid):
        engine.pause("main-2", STAFF, "nap")


def test_close_day_cancels_waiting_tickets_and_keeps_history(engine):
    served = engine.issue("main", "CT")
    waiting = engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    engine.finish("main-1", STAFF, ["CT-BS"])
    assert engine.close_day("main") == 1
    assert engine.get_ticket(waiting["id"])["status"] == "cancelled"
    assert engine.get_ticket(served["id"])["status"] == "served"
    assert engine.queue_state("main")["counters"][0]["status"] == "closed"


def test_housekeeping_cancels_yesterdays_tickets_after_rollover(engine, clock):
    t = engine.issue("main", "CT")
    clock.advance(days=1)
    engine.housekeeping()
    assert engine.get_ticket(t["id"])["status"] == "cancelled"
    assert engine.issue("main", "CT")["number"] == "A001"


def test_ahead_and_estimate_grow_with_the_queue(engine):
    first = engine.issue("main", "CT")
    later = [engine.issue("main", "CT") for _ in range(5)]
    assert first["ahead"] == 0
    assert later[-1]["ahead"] == 5
    assert later[-1]["estimated_wait_s"] > later[0]["estimated_wait_s"]
    engine.take_counter("main-1", STAFF)
    assert engine.get_ticket(later[-1]["id"])["ahead"] == 5


def test_unknown_things_are_clear_errors(engine):
    with pytest.raises(NotFound):
        engine.issue("nowhere", "CT")
    with pytest.raises(Invalid):
        engine.issue("branch", "DD")  # not offered at the branch
    with pytest.raises(Invalid):
        engine.issue("main", "CT", priority="vip")
    with pytest.raises(NotFound):
        engine.call_next("main-99", STAFF)


def test_events_are_published_after_commit(engine):
    engine.issue("main", "CT")
    names = [e.name for e in engine.events]
    assert names[0] == "ticket.issued" and "queue.updated" in names
    assert all(e.site == "main" for e in engine.events)


def _with_rules(cfg, **changes):
    from dataclasses import replace

    return replace(cfg, rules=replace(cfg.rules, **changes))


def _full_replay(engine, service: str) -> int:
    """The estimate a new ticket would get from a fresh replay of the queue (no reuse)."""
    site = engine.config.sites["main"]
    day = engine.today(site)
    with engine.store.read() as conn:
        return engine._estimate_new(engine._snapshot(conn, site, day), service)


def test_a_burst_of_tickets_reuses_one_replay_and_counts_each_ticket_issued_since(engine):
    engine.take_counter("main-1", STAFF)
    engine.take_counter("main-2", OTHER)
    burst = [engine.issue("main", "CT")["estimated_wait_s"] for _ in range(6)]  # the clock does not move
    assert burst == sorted(burst) and burst[-1] > burst[0]
    assert engine._newcomers["main"].joined.total() == 6  # one replay, six tickets accounted on top of it
    reused = engine._newcomer_estimate(engine.config.sites["main"], engine.today(engine.config.sites["main"]),
                                       "CT", False, engine.clock())
    fresh = _full_replay(engine, "CT")
    handling = engine._newcomers["main"].snap.handling["CT"]
    assert abs(reused - fresh) <= handling  # within one citizen's handling time of a full replay


def test_any_call_drops_the_reused_replay(engine, clock):
    engine.take_counter("main-1", STAFF)
    engine.issue("main", "CT")
    engine.issue("main", "CT")
    assert "main" in engine._newcomers
    engine.call_next("main-1", STAFF)
    assert "main" not in engine._newcomers
    t = engine.issue("main", "CT")
    assert engine._newcomers["main"].joined == {("CT", False): 1}  # a fresh replay after the call
    clock.advance(seconds=5)
    engine.issue("main", "CT")
    assert engine._newcomers["main"].joined == {("CT", False): 1}  # older than NEWCOMER_TTL_S: replayed again
    assert t["estimated_wait_s"] is not None


def test_waits_on_screens_are_worked_out_again_when_a_counter_opens(engine):
    for _ in range(3):
        engine.issue("main", "HT")

    def shown() -> int | None:
        return next(s for s in engine.queue_state("main")["services"] if s["code"] == "HT")["estimated_wait_s"]

    # Nobody signed in yet: the estimate counts on the counters configured for HT (main-2, main-3, main-4).
    assert shown() is not None
    # Only main-1 (CT, TKQ) opens: nobody serves HT now, and the screen says so at once, not 10 s later.
    engine.take_counter("main-1", STAFF)
    assert shown() is None
    engine.take_counter("main-3", OTHER)
    assert shown() is not None


def test_forced_release_requeues_with_the_whole_wait_and_a_fresh_service(engine, clock):
    """The stranded visit leaves no trace in the next one: wait counted from issue, old marks not reused."""
    manager = Actor("quanly", "manager")
    t = engine.issue("main", "CT")
    clock.advance(seconds=60)
    engine.call_next("main-1", STAFF)
    engine.mark_procedure("main-1", STAFF, "CT-BS")  # serving, one procedure marked
    clock.advance(seconds=30)
    engine.release_counter("main-1", manager, force=True)
    back = engine.get_ticket(t["id"], private=True)
    assert (back["status"], back["started_at"], back["called_at"]) == ("waiting", None, None)
    clock.advance(seconds=90)
    assert engine.call_next("main-2", OTHER)["id"] == t["id"]
    clock.advance(seconds=40)
    done = engine.finish("main-2", OTHER, ["CT-BS"])
    assert done["wait_s"] == 180  # issue → the call that brought the citizen to a counter
    assert [(p["code"], p["seconds"], p["counter_id"]) for p in done["procedures"]] == [("CT-BS", 40, "main-2")]
