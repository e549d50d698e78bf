"""What a center notices in its first week (issue 13, items 9–12 and 14), on real servers, files and commands:
durations rounded as a whole, alerts for citizens nobody can serve, Vietnamese exports and pages, refused
staffing targets, and the operator's command line."""

from __future__ import annotations

import contextlib
import csv
import io
import os
import re
import sqlite3
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook

from tests.conftest import DEMO_CONFIG, ROOT
from tests.manager_support import DAY, build_fixed_day, fixed_day_server, login

Q = f"from={DAY}&to={DAY}&site=main"


def run_cli(db: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "center", "--db", str(db), *args], text=True, input=stdin,
                          capture_output=True, cwd=ROOT, timeout=120, env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """The hand-worked day of tests/manager_support.py on a real server."""
    server = fixed_day_server(tmp_path_factory.mktemp("manager-ops"))
    yield server
    server.stop()



def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# ---------------------------------------------------------------------- 9. durations


@pytest.mark.parametrize("seconds, shown", [
    (0, "0:00"), (59.4, "0:59"), (59.5, "1:00"), (119.5, "2:00"), (1619.4, "26:59"), (1619.5, "27:00"),
    (1619.6, "27:00"), (3599.4, "59:59"), (3599.5, "1:00:00"), (3599.6, "1:00:00"), (3600, "1:00:00"),
    (3659.6, "1:01:00"), (7199.5, "2:00:00"), (None, "—"), (float("nan"), "—"), (-3, "0:00")])
def test_durations_round_the_total_seconds_before_splitting(seconds, shown):
    from center.reports import fmt_duration

    assert fmt_duration(seconds) == shown


# ---------------------------------------------------------------------- 10. today at a glance


def test_an_elderly_citizen_waiting_for_a_service_no_open_counter_serves_raises_an_alert(engine, clock):
    from center import reports
    from center.queue.actors import Actor

    staff = Actor("staff1", "staff")
    engine.take_counter("main-1", staff)  # Chứng thực only: nobody serves civil status (HT)
    engine.issue("main", "HT", priority="elderly")
    engine.issue("main", "CT")
    alerts = reports.live_overview(engine, "main")["alerts"]
    assert [a["kind"] for a in alerts] == ["unserved"]
    (alert,) = alerts
    assert (alert["service"], alert["waiting"], alert["priority_waiting"]) == ("HT", 1, 1)
    assert "1 người ưu tiên" in alert["message"] and "không có quầy nào đang mở" in alert["message"]
    assert "no open counter serves" in alert["message_en"]
    engine.take_counter("main-3", Actor("staff2", "staff"))  # Quầy 3 – Tư pháp hộ tịch opens
    assert reports.live_overview(engine, "main")["alerts"] == []
    engine.pause("main-3", Actor("staff2", "staff"), "meeting")  # a paused counter calls nobody
    assert [a["kind"] for a in reports.live_overview(engine, "main")["alerts"]] == ["unserved"]


def test_overview_holds_todays_service_level_and_satisfied_share(engine, clock):
    from center import reports

    build_fixed_day(engine, clock)
    assert engine.today(engine.config.sites["main"]) == DAY
    today = reports.live_overview(engine, "main")["today"]
    # The same figures as the report of that day (tests/test_manager.py works them out by hand).
    assert (today["issued"], today["served"], today["no_show"]) == (6, 3, 1)
    assert today["service_level"] == 0.2857 and today["rated"] == 3 and today["satisfied_share"] == 0.6667


# ---------------------------------------------------------------------- 11. Vietnamese exports and pages


def export_sections(text: str) -> dict[str, list[list[str]]]:
    sections: dict[str, list[list[str]]] = {}
    name = None
    for row in csv.reader(io.StringIO(text)):
        if row and row[0].startswith("# "):
            name = row[0][2:]
            sections[name] = []
        elif row and name:
            sections[name].append(row)
    return sections


def test_csv_content_type_names_its_charset_once(srv):
    r = srv.get(f"/manager/reports.csv?{Q}", who="manager")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "text/csv; charset=utf-8"


def test_csv_and_xlsx_sections_and_columns_are_vietnamese_or_english(srv):
    vi = export_sections(srv.get(f"/manager/reports.csv?{Q}&group=service", who="manager")
                         .content.decode("utf-8-sig"))
    assert list(vi) == ["Tổng hợp", "Theo nhóm", "Thủ tục", "Hài lòng", "Lượt đến theo giờ", "Theo ngày"]
    assert vi["Theo ngày"][0] == ["Ngày", "Số cấp", "Đã phục vụ", "Vắng mặt", "Chờ TB (giây)",
                                  "Mức phục vụ (tỉ lệ gọi đúng hạn)"]
    sat = vi["Hài lòng"]
    assert sat[0] == ["Theo", "Nhóm", "Mức đánh giá", "Số lượt", "Tổng lượt đánh giá", "Tỉ lệ"]
    assert {r[0] for r in sat[1:]} == {"Tổng", "Theo quầy", "Theo cán bộ", "Theo thủ tục"}
    assert {"Rất hài lòng", "Hài lòng", "Không hài lòng"} <= {r[2] for r in sat[1:]}
    raw = {"overall", "by_counter", "by_staff", "by_procedure", "very_satisfied", "unsatisfied", "no_show",
           "wait_mean_s", "tong_hop", "hai_long"}
    cells = {c for rows in vi.values() for row in rows for c in row} | set(vi)
    assert not raw & cells
    wb = load_workbook(io.BytesIO(srv.get(f"/manager/reports.xlsx?{Q}&group=service", who="manager").content))
    assert wb.sheetnames == list(vi)
    assert [c.value for c in wb["Theo ngày"][1]] == vi["Theo ngày"][0]
    en = export_sections(srv.get(f"/manager/reports.csv?{Q}&group=service&lang=en", who="manager")
                         .content.decode("utf-8-sig"))
    assert en["trend"][0] == ["Day", "Issued", "Served", "No-show", "Wait mean (s)", "Service level"]
    assert {r[0] for r in en["satisfaction"][1:]} == {"Overall", "By counter", "By staff member", "By procedure"}
    assert {"Very satisfied", "Satisfied", "Not satisfied"} <= {r[2] for r in en["satisfaction"][1:]}


def test_printed_report_footer_is_in_local_time(srv):
    page = login(srv, "manager").get(srv.url + f"/manager/reports/print?period=day&date={DAY}&site=main", timeout=10)
    footer = text_of(re.search(r'<p class="muted" id="generated-at">(.*?)</p>', page.text, re.S).group(1))
    assert "(UTC)" not in footer and not re.search(r"\d{2}:\d{2}:\d{2}(\.\d+)?Z", footer)
    shown = datetime.strptime(re.search(r"\d{2}:\d{2}:\d{2} \d{2}/\d{2}/\d{4}", footer).group(0), "%H:%M:%S %d/%m/%Y")
    local_now = datetime.now(ZoneInfo("Asia/Ho_Chi_Minh")).replace(tzinfo=None)
    assert abs((local_now - shown).total_seconds()) < 120
    assert "giờ địa phương" in footer


# ---------------------------------------------------------------------- 12. staffing targets


@pytest.mark.parametrize("query, words", [
    ("target_wait_min=-5", "target_wait_min"), ("target_wait_min=nan", "target_wait_min"),
    ("target_wait_min=inf", "target_wait_min"), ("target_wait_min=0", "target_wait_min"),
    ("target_wait_min=1e308", "target_wait_min"), ("target_wait_min=abc", "not a number"),
    ("target_sl=nan", "target_sl"), ("target_sl=1.5", "target_sl")])
def test_staffing_refuses_bad_targets_with_422_and_the_reason(srv, query, words):
    r = srv.get(f"/manager/api/staffing?{Q}&{query}", who="manager")
    assert r.status_code == 422, r.text[:300]
    body = r.json()
    assert body["error"] == "bad_target" and words in body["message_en"] and body["message"]


def test_rejected_report_filters_leave_no_traceback_in_the_log(srv):
    before = srv.log.read_text()
    for query in ("target_wait_min=-5", "target_sl=nan", "from=2026-02-30", "group=nope", "site=nowhere"):
        assert srv.get(f"/manager/api/staffing?{query}", who="manager").status_code == 422, query
    assert srv.get("/manager/api/report?group=nope", who="manager").status_code == 422
    assert srv.get(f"/manager/api/staffing?{Q}", who="manager").status_code == 200  # the log is flushed meanwhile
    new = srv.log.read_text()[len(before):]
    assert "Traceback" not in new, new[-2000:]


def test_staffing_page_shows_the_reason_on_a_friendly_page(srv):
    r = login(srv, "manager").get(srv.url + f"/manager/staffing?{Q}&target_wait_min=-1", timeout=10)
    assert r.status_code == 422 and "Thời gian chờ mục tiêu phải từ 1 đến 480 phút" in r.text


# ---------------------------------------------------------------------- 14. operators


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "center.sqlite3"
    from center.storage.store import Store

    Store(path).close()
    return path


def test_token_create_refuses_an_unknown_device_or_site(db):
    r = run_cli(db, "token", "create", "--device", "kiosk-nowhere", "--role", "kiosk", "--site", "main")
    assert r.returncode == 2 and "unknown device 'kiosk-nowhere'" in r.stderr and "main-kiosk-1" in r.stderr
    r = run_cli(db, "token", "create", "--device", "main-kiosk-1", "--role", "kiosk", "--site", "moon")
    assert r.returncode == 2 and "unknown site 'moon'" in r.stderr
    r = run_cli(db, "token", "create", "--device", "main-kiosk-1", "--role", "kiosk", "--site", "branch")
    assert r.returncode == 2 and "is at site 'main'" in r.stderr
    r = run_cli(db, "token", "create", "--device", "main-hall", "--role", "kiosk")
    assert r.returncode == 2 and "is a display" in r.stderr
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT count(*) FROM tokens").fetchone()[0] == 0
    r = run_cli(db, "token", "create", "--device", "main-kiosk-1")  # role and site found in config.toml
    assert r.returncode == 0, r.stderr
    assert "kiosk device main-kiosk-1 at site main" in r.stdout and r.stdout.strip().splitlines()[-1].startswith("xh_")


def test_user_lock_unlock_reset_password_and_list(db):
    from center.errors import QueueError
    from center.storage.store import Store
    from center.web.auth import Accounts

    assert run_cli(db, "user", "add", "lan", "--role", "staff", "--password-stdin",
                   stdin="first-long-password\n").returncode == 0
    store = Store(db)
    accounts = Accounts(store)
    try:
        assert accounts.authenticate("lan", "first-long-password")[0].name == "lan"
        r = run_cli(db, "user", "lock", "lan")
        assert r.returncode == 0 and "locked" in r.stdout
        with pytest.raises(QueueError):
            accounts.authenticate("lan", "first-long-password")
        listing = run_cli(db, "user", "list").stdout
        assert re.search(r"^lan\s+staff\s+locked", listing, re.M), listing
        for _ in range(6):  # wrong passwords on top: a sign-in lockout
            with contextlib.suppress(QueueError):
                accounts.authenticate("lan", "wrong")
        assert run_cli(db, "user", "unlock", "lan").returncode == 0
        assert accounts.authenticate("lan", "first-long-password")[0].name == "lan"
        assert re.search(r"^lan\s+staff\s+active", run_cli(db, "user", "list").stdout, re.M)
        r = run_cli(db, "user", "reset-password", "lan", stdin="second-long-password\n")
        assert r.returncode == 0, r.stderr
        assert accounts.authenticate("lan", "second-long-password")[0].name == "lan"
        r = run_cli(db, "user", "reset-password", "lan", stdin="")
        assert r.returncode == 2 and "standard input" in r.stderr
        r = run_cli(db, "user", "reset-password", "nobody", stdin="third-long-password\n")
        assert r.returncode == 2 and "No user nobody" in r.stderr
        with store.read() as conn:
            actions = [tuple(x) for x in conn.execute("SELECT actor, action FROM audit_log WHERE target = 'lan' "
                                                        "ORDER BY id")]
        assert actions == [("system", "user.add"), ("system", "user.disable"), ("system", "user.enable"),
                           ("system", "user.reset")]
    finally:
        store.close()


def test_backup_names_use_the_centers_local_time_on_a_utc_server(db, tmp_path):
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    before = datetime.now(tz).replace(microsecond=0, tzinfo=None)
    r = run_cli(db, "backup", "--dest", str(tmp_path / "b"), env={"TZ": "UTC"})
    after = datetime.now(tz).replace(tzinfo=None)
    assert r.returncode == 0, r.stderr
    (name,) = [p.name for p in (tmp_path / "b").iterdir()]
    stamp = datetime.strptime(re.search(r"-(\d{8}-\d{6})\.sqlite3$", name).group(1), "%Y%m%d-%H%M%S")
    assert before <= stamp <= after, (name, before, after)


def test_the_demo_names_its_database_and_the_backup_command_it_prints_works(tmp_path):
    demo = tmp_path / "var" / "demo.sqlite3"
    demo.parent.mkdir()
    r = run_cli(demo, "demo-init", "--config", str(DEMO_CONFIG))
    assert r.returncode == 0, r.stderr
    line = next(x for x in r.stdout.splitlines() if "backup --dest" in x)
    command = line[line.index("python -m center"):].split()
    assert command[3:5] == ["--db", str(demo)]
    out = subprocess.run([sys.executable, *command[1:3], *command[3:-1], str(tmp_path / "backups")], text=True,
                         capture_output=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    assert len(list((tmp_path / "backups").glob("demo-*.sqlite3"))) == 1
    readme = (ROOT / "README.md").read_text()
    assert "--db var/demo.sqlite3" in readme


def test_voice_zero_tens_chooses_the_southern_reading(tmp_path):
    from center.config.read import ConfigError, load_config
    from center.output.voice import announcement

    text = DEMO_CONFIG.read_text()
    assert 'zero_tens = "linh"' in text
    south = tmp_path / "south.toml"
    south.write_text(text.replace('zero_tens = "linh"', 'zero_tens = "lẻ"'))
    cfg = load_config(south)
    assert cfg.voice.southern
    assert "một trăm lẻ năm" in announcement(cfg.voice, "105", 3).text
    assert "một trăm linh năm" in announcement(load_config(DEMO_CONFIG).voice, "105", 3).text
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('zero_tens = "linh"', 'zero_tens = "le"'))
    with pytest.raises(ConfigError) as err:
        load_config(bad)
    assert "voice.zero_tens" in str(err.value) and "lẻ" in str(err.value)
    r = run_cli(tmp_path / "x.sqlite3", "check-config", str(bad))
    assert r.returncode == 2 and "voice.zero_tens" in r.stderr


def test_counter_doc_no_longer_says_config_rejects_rating(tmp_path):
    from center.config.read import load_config

    doc = (ROOT / "docs" / "counter.md").read_text()
    assert "cannot be set in config.toml" not in doc and "once center/config/read.py accepts it" not in doc
    rated = tmp_path / "rated.toml"
    rated.write_text(DEMO_CONFIG.read_text() + '\n[rating]\nwindow_min = 3\nlevels = [\n'
                     '  { code = "good", name = "Tốt", face = "happy" },\n'
                     '  { code = "bad", name = "Chưa tốt", face = "unhappy", ask_reasons = true },\n]\n')
    assert [lv.code for lv in load_config(rated).rating.levels] == ["good", "bad"]


def test_backup_timer_names_backups_with_the_configs_time_zone():
    unit = (ROOT / "deploy" / "xephang-backup.service").read_text()
    assert "--config /etc/xephang/config.toml" in unit


def test_commands_on_the_default_database_during_the_demo_point_to_the_demos(tmp_path):
    """Beside make run's var/demo.sqlite3, a command without --db would make an empty var/xephang.sqlite3
    (and a backup of nothing): it is refused with the --db to use."""
    (tmp_path / "var").mkdir()
    from center.storage.store import Store

    Store(tmp_path / "var" / "demo.sqlite3").close()

    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "center", *args], text=True, capture_output=True,
                              cwd=tmp_path, timeout=120, env={**os.environ, "PYTHONPATH": str(ROOT)})

    for args in (("backup", "--dest", "b"), ("user", "list"), ("token", "create", "--user", "x")):
        r = run(*args)
        assert r.returncode == 2 and "add --db var/demo.sqlite3" in r.stderr, (args, r.stderr)
    assert not (tmp_path / "var" / "xephang.sqlite3").exists()
    r = run("--db", "var/demo.sqlite3", "backup", "--dest", "b")
    assert r.returncode == 0, r.stderr
    r = run("backup", "--dest", "b", "--db", "var/demo.sqlite3")
    assert r.returncode == 0, r.stderr
    r = run("--db", "var/xephang.sqlite3", "user", "list")  # asked for by name: a new database is fine
    assert r.returncode == 0 and (tmp_path / "var" / "xephang.sqlite3").exists()
