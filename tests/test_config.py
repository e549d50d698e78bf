"""config.toml validation: a wrong file names the key and the problem; opening-hours rules."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from center.config.read import ConfigError, load_config, parse_config
from center.errors import Conflict
from center.queue.clock import opening_state
from center.queue.engine import Engine
from center.storage.store import Store

from .conftest import DEMO_CONFIG, ROOT


def demo() -> dict:
    return tomllib.loads(DEMO_CONFIG.read_text(encoding="utf-8"))


def test_demo_config_is_valid_and_has_two_sites():
    cfg = load_config(DEMO_CONFIG)
    assert list(cfg.sites) == ["main", "branch"]
    assert {p.code for s in cfg.services.values() for p in s.procedures} >= {"CT-BS", "HT-KS", "DD-BD", "TKQ"}


@pytest.mark.parametrize(("change", "key", "words"), [
    (lambda d: d["sites"][0]["counters"][2].update(services=["XX"]), "sites[0].counters[2].services[0]",
     "unknown"),
    (lambda d: d["center"].pop("name"), "center.name", "required"),
    (lambda d: d["queue"].update(priority_policy="random"), "queue.priority_policy", "strict"),
    (lambda d: d["queue"].update(interleave_evry=3), "queue.interleave_evry", "not a known setting"),
    (lambda d: d["sites"][0].update(hours={"default": ["17:00-07:30"]}), "sites[0].hours.default[0]",
     "ends before"),
    (lambda d: d["sites"][0].update(hours={"mon": ["7h30-11h"]}), "sites[0].hours.mon[0]", "interval"),
    (lambda d: d["services"][1].update(prefix="A"), "sites[0].services", "same numbers"),
    (lambda d: d["center"].update(timezone="Mars/Olympus"), "center.timezone", "time zone"),
    (lambda d: [d["services"][0].pop(k) for k in ("prefix", "digits")] and d["services"][0].update(
        series=[1999, 1001]), "services[0].series", "go up"),
    (lambda d: d["sites"][0]["counters"].append(dict(d["sites"][0]["counters"][0])), "sites[0].counters",
     "appears twice"),
    (lambda d: d["sites"][0]["kiosks"][0].update(printer={"driver": "network"}),
     "sites[0].kiosks[0].printer.host", "required"),
    (lambda d: d["voice"].update(template="Mời số {number}"), "voice.template", "{counter}"),
    # A date that does not exist would never match a day: the site would silently stay open on it.
    (lambda d: d["sites"][0].update(closed_dates=["2026-02-30"]), "sites[0].closed_dates[0]", "real calendar date"),
    (lambda d: d["sites"][0].update(closed_dates=["2026-13-01"]), "sites[0].closed_dates[0]", "real calendar date"),
    (lambda d: d["sites"][0].update(closed_dates=["2026-1-1"]), "sites[0].closed_dates[0]", "not a date"),
    # `$` in a pattern accepts a trailing newline: values are matched whole.
    (lambda d: d["sites"][0].update(numbering_starts_at="05:00\n"), "sites[0].numbering_starts_at", "time"),
    (lambda d: d["sites"][0].update(hours={"default": ["07:30-11:30\n"]}), "sites[0].hours.default[0]",
     "interval"),
    (lambda d: d["services"][0].update(code="CT\n"), "services[0].code", ""),
])
def test_wrong_config_names_key_and_problem(change, key, words):
    data = demo()
    change(data)
    with pytest.raises(ConfigError) as e:
        parse_config(data)
    assert e.value.key == key
    assert words in e.value.problem


def test_check_config_command_reports_error_and_exit_code(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text(DEMO_CONFIG.read_text(encoding="utf-8").replace('priority_policy = "interleaved"',
                                                                     'priority_policy = "lottery"'))
    run = subprocess.run([sys.executable, "-m", "center", "check-config", str(bad)], capture_output=True,
                         text=True, cwd=ROOT)
    assert run.returncode == 2
    assert "queue.priority_policy" in run.stderr
    ok = subprocess.run([sys.executable, "-m", "center", "check-config", str(DEMO_CONFIG)], capture_output=True,
                        text=True, cwd=ROOT)
    assert ok.returncode == 0 and "OK" in ok.stdout


def test_check_config_refuses_a_date_that_does_not_exist(tmp_path):
    data = demo()
    text = DEMO_CONFIG.read_text(encoding="utf-8")
    anchor = text.index("[[sites.counters]]")
    bad = tmp_path / "bad-date.toml"
    bad.write_text(text[:anchor] + 'closed_dates = ["2026-02-30"]\n\n' + text[anchor:], encoding="utf-8")
    assert "closed_dates" not in data["sites"][0]  # the line added is the site's only one
    run = subprocess.run([sys.executable, "-m", "center", "check-config", str(bad)], capture_output=True,
                         text=True, cwd=ROOT)
    assert run.returncode == 2, run.stdout
    assert "sites[0].closed_dates[0]" in run.stderr and "2026-02-30" in run.stderr
    # A real date, as a string or a TOML date, is taken.
    for value in ('"2026-02-28"', "2026-02-28"):
        good = tmp_path / "good-date.toml"
        good.write_text(text[:anchor] + f"closed_dates = [{value}]\n\n" + text[anchor:], encoding="utf-8")
        assert load_config(good).sites["main"].closed_dates == ("2026-02-28",)


def test_server_refuses_to_start_with_a_broken_config(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[center\nname = 'x'", encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "center", "--db", str(tmp_path / "x.db"), "serve", "--config",
                          str(bad), "--port", "1"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 2 and "not valid TOML" in run.stderr


def office_hours() -> dict:
    data = demo()
    data["sites"][0]["hours"] = {"default": ["07:30-11:30", "13:30-17:00"], "sat": ["07:30-11:30"], "sun": []}
    data["sites"][0]["closed_dates"] = ["2026-12-31"]
    return data


def at_local(day: int, hh: int, mm: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


@pytest.mark.parametrize(("day", "hh", "mm", "issuing", "reason"), [
    (23, 7, 29, False, "closed"),      # Monday before opening
    (23, 7, 30, True, "open"),
    (23, 11, 14, True, "open"),
    (23, 11, 20, False, "closing_soon"),  # within 15 min of the morning close
    (23, 12, 0, False, "closed"),     # lunch
    (23, 16, 50, False, "closing_soon"),
    (28, 9, 0, True, "open"),         # Saturday morning
    (28, 14, 0, False, "closed"),     # Saturday afternoon
    (29, 9, 0, False, "closed"),      # Sunday
])
def test_opening_hours_rules(day, hh, mm, issuing, reason):
    cfg = parse_config(office_hours())
    state = opening_state(at_local(day, hh, mm), cfg.sites["main"], cfg.tz)
    assert (state.issuing, state.reason) == (issuing, reason)


def test_holiday_is_closed_and_issue_says_when_it_reopens(tmp_path):
    cfg = parse_config(office_hours())
    moment = at_local(31, 9, 0, month=12)
    state = opening_state(moment, cfg.sites["main"], cfg.tz)
    assert state.reason == "holiday" and state.next_open.isoformat().startswith("2027-01-01T07:30")
    engine = Engine(Store(tmp_path / "q.sqlite3"), cfg, clock=lambda: moment)
    with pytest.raises(Conflict) as e:
        engine.issue("main", "CT")
    assert e.value.code == "closed" and "07:30" in e.value.message


def test_editing_config_keeps_history(tmp_path):
    store = Store(tmp_path / "q.sqlite3")
    engine = Engine(store, load_config(DEMO_CONFIG))
    t = engine.issue("main", "CT")
    data = demo()
    data["services"] = [s for s in data["services"] if s["code"] != "KT"]
    for site in data["sites"]:
        for c in site["counters"]:
            c["services"] = [s for s in c["services"] if s != "KT"]
        if "services" in site:
            site["services"] = [s for s in site["services"] if s != "KT"]
    data["sites"][0]["counters"][0]["name"] = "Quầy 1 – Chứng thực (mới)"
    engine2 = Engine(store, parse_config(data))
    assert engine2.get_ticket(t["id"])["number"] == "A001"
    with store.connection() as conn:
        assert conn.execute("SELECT active FROM services WHERE code = 'KT'").fetchone()[0] == 0
        assert conn.execute("SELECT name FROM counters WHERE id = 'main-1'").fetchone()[0].endswith("(mới)")
    assert engine2.issue("main", "CT")["number"] == "A002"
