"""Rating storage and validation (center/queue/ratings.py) on a real SQLite file with a fake clock."""

from __future__ import annotations

import tomllib

import pytest

from center.config.model import DEFAULT_RATING as DEFAULT
from center.config.read import ConfigError, parse_config
from center.errors import Conflict, Invalid
from center.queue.actors import Actor
from center.queue.ratings import get_rating, pending, record
from tests.conftest import DEMO_CONFIG

STAFF = Actor("staff1", "staff")


def serve(engine, procedures=("CT-BS",), counter="main-1"):
    t = engine.issue("main", "CT")
    engine.call_next(counter, STAFF)
    engine.finish(counter, STAFF, list(procedures))
    return t


def with_rating(section: dict | None):
    """The demo config with this [rating] section (None: without one), parsed as the server parses it."""
    data = tomllib.loads(DEMO_CONFIG.read_text(encoding="utf-8"))
    data.pop("rating", None)
    if section is not None:
        data["rating"] = section
    return parse_config(data).rating


def test_settings_default_and_configured_levels():
    """[rating] is parsed once, with the config (Config.rating): defaults when absent, a level's English name
    and its asking for reasons defaulted from its name and face; anything malformed stops the server."""
    assert [lv.name for lv in DEFAULT.levels] == ["Rất hài lòng", "Hài lòng", "Không hài lòng"]
    assert with_rating(None) == DEFAULT
    custom = with_rating({
        "window_min": 3, "timeout_s": 30,
        "levels": [{"code": "good", "name": "Tốt", "face": "happy"}, {"code": "ok", "name": "Bình thường"},
                   {"code": "bad", "name": "Chưa tốt", "face": "very_unhappy"}],
        "reasons": [{"code": "slow", "name": "Chậm"}]})
    assert [(lv.code, lv.face, lv.ask_reasons, lv.name_en) for lv in custom.levels] == [
        ("good", "happy", False, "Tốt"), ("ok", "neutral", False, "Bình thường"),
        ("bad", "very_unhappy", True, "Chưa tốt")]
    assert [r.code for r in custom.reasons] == ["slow"]
    assert (custom.window_min, custom.timeout_s) == (3, 30)
    assert with_rating({"window_min": 2}).levels == DEFAULT.levels
    assert with_rating({"reasons": []}).reasons == ()
    for broken, key in (({"levels": [{"code": "only", "name": "x"}]}, "rating.levels"),
                        ({"window_min": -1}, "rating.window_min"), ({"timeout_s": "x"}, "rating.timeout_s"),
                        ({"levels": ["junk", {"code": "b", "name": "y"}]}, "rating.levels[0]")):
        with pytest.raises(ConfigError) as e:
            with_rating(broken)
        assert e.value.key == key


def test_one_rating_per_ticket_stored_with_counter_staff_and_procedures(engine, clock):
    t = serve(engine, ("CT-BS", "CT-CK"))
    clock.advance(seconds=20)
    p = pending(engine.store, "main-1", clock(), DEFAULT)
    assert p is not None and p["ticket"] == t["id"] and p["number"] == t["number"]
    out = record(engine.store, "main-1", t["id"], "unsatisfied", ["wait_long", "slow", "wait_long"], clock(),
                 DEFAULT)
    assert out["satisfied"] is False and out["reasons"] == ["wait_long", "slow"]
    stored = get_rating(engine.store, t["id"])
    assert (stored["site"], stored["counter_id"], stored["staff"], stored["level"]) == (
        "main", "main-1", "staff1", "unsatisfied")
    assert stored["procedures"] == ["CT-BS", "CT-CK"]
    assert pending(engine.store, "main-1", clock(), DEFAULT) is None
    with pytest.raises(Conflict) as e:
        record(engine.store, "main-1", t["id"], "satisfied", [], clock(), DEFAULT)
    assert e.value.code == "already_rated"
    assert get_rating(engine.store, t["id"])["level"] == "unsatisfied"


def test_only_the_counters_latest_recent_finish_can_be_rated(engine, clock):
    assert pending(engine.store, "main-1", clock(), DEFAULT) is None
    first = serve(engine)
    second = serve(engine)
    with pytest.raises(Conflict) as e:
        record(engine.store, "main-1", first["id"], "satisfied", [], clock(), DEFAULT)
    assert e.value.code == "not_ratable"
    with pytest.raises(Conflict) as e:  # another counter's pad cannot rate it either
        record(engine.store, "main-2", second["id"], "satisfied", [], clock(), DEFAULT)
    assert e.value.code == "not_ratable"
    clock.advance(minutes=DEFAULT.window_min, seconds=1)
    assert pending(engine.store, "main-1", clock(), DEFAULT) is None
    with pytest.raises(Conflict) as e:
        record(engine.store, "main-1", second["id"], "satisfied", [], clock(), DEFAULT)
    assert e.value.code == "rating_expired"
    assert get_rating(engine.store, second["id"]) is None


def test_a_called_but_unfinished_ticket_is_not_ratable(engine, clock):
    done = serve(engine)
    t = engine.issue("main", "CT")
    engine.call_next("main-1", STAFF)
    with pytest.raises(Conflict):
        record(engine.store, "main-1", t["id"], "satisfied", [], clock(), DEFAULT)
    # the previous visit can still be rated while the next citizen is being called
    assert record(engine.store, "main-1", done["id"], "very_satisfied", [], clock(), DEFAULT)["satisfied"]


@pytest.mark.parametrize(("ticket", "level", "reasons", "code"), [
    (None, "satisfied", [], "missing_field"),
    ("1", "satisfied", [], "missing_field"),
    (True, "satisfied", [], "missing_field"),
    (1, "great", [], "bad_level"),
    (1, "unsatisfied", ["nope"], "bad_reasons"),
    (1, "unsatisfied", "wait_long", "bad_reasons"),
    (1, "unsatisfied", [1], "bad_reasons"),
])
def test_bad_rating_input_is_refused(engine, clock, ticket, level, reasons, code):
    serve(engine)
    with pytest.raises(Invalid) as e:
        record(engine.store, "main-1", ticket, level, reasons, clock(), DEFAULT)
    assert e.value.code == code


def test_reasons_are_kept_only_for_an_unhappy_answer(engine, clock):
    t = serve(engine)
    out = record(engine.store, "main-1", t["id"], "satisfied", ["slow"], clock(), DEFAULT)
    assert out["reasons"] == [] and get_rating(engine.store, t["id"])["reasons"] == []
