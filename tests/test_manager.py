"""Manager pages and JSON on a real server: permissions, exports equal to the JSON, admin actions."""

from __future__ import annotations

import csv
import io
import re

import pytest
import requests
from openpyxl import load_workbook

from tests.conftest import PASSWORD
from tests.manager_support import DAY, fixed_day_server, login

Q = f"from={DAY}&to={DAY}&site=main"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    """The hand-worked day of tests/manager_support.py on a real server."""
    server = fixed_day_server(tmp_path_factory.mktemp("manager"))
    yield server
    server.stop()



def csrf(s: requests.Session, srv, path: str) -> str:
    return re.search(r'name="csrf-token" content="([^"]+)"', s.get(srv.url + path, timeout=10).text).group(1)


@pytest.mark.parametrize("path", [f"/manager/api/report?{Q}", "/manager/api/overview?site=main",
                                  f"/manager/api/staffing?{Q}", f"/manager/reports.csv?{Q}"])
def test_managers_and_admins_read_reports_others_cannot(srv, path):
    assert srv.get(path, who="manager").status_code == 200
    assert srv.get(path, who="admin").status_code == 200
    for who in ("staff1", "main-kiosk-1", "main-hall"):
        r = srv.get(path, who=who)
        assert r.status_code == 403, who
    assert srv.get(path, who=None).status_code == 401


def test_anonymous_pages_go_to_sign_in_and_staff_get_403(srv):
    r = requests.get(srv.url + "/manager/reports", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "/login" in r.headers["Location"]
    staff = login(srv, "staff1")
    assert staff.get(srv.url + "/manager/reports", timeout=10).status_code == 403
    assert staff.get(srv.url + "/manager/", timeout=10).status_code == 403
    manager = login(srv, "manager")
    page = manager.get(srv.url + f"/manager/reports?{Q}&group=service", timeout=10)
    assert page.status_code == 200 and "Chứng thực" in page.text


def test_report_json_holds_the_hand_worked_figures(srv):
    rep = srv.get(f"/manager/api/report?{Q}", who="manager").json()
    s = rep["summary"]
    assert (s["issued"], s["served"], s["no_show"], s["cancelled"], s["transferred"], s["left"]) == (6, 3, 1, 1, 1, 1)
    assert (s["wait_mean_s"], s["wait_p90_s"], s["service_median_s"], s["service_level"]) == (1284.0, 1764.0, 360.0,
                                                                                             0.2857)


@pytest.mark.parametrize("group", ["service", "staff", "procedure"])
def test_csv_and_xlsx_hold_the_same_numbers_as_the_json(srv, group):
    q = f"{Q}&group={group}&lang=en"
    rep = srv.get(f"/manager/api/report?{q}", who="manager").json()
    text = srv.get(f"/manager/reports.csv?{q}", who="manager").content.decode("utf-8-sig")
    sections: dict[str, list[list[str]]] = {}
    name = None
    for row in csv.reader(io.StringIO(text)):
        if row and row[0].startswith("# "):
            name = row[0][2:]
            sections[name] = []
        elif row and name:
            sections[name].append(row)
    wb = load_workbook(io.BytesIO(srv.get(f"/manager/reports.xlsx?{q}", who="manager").content))

    def num(x):
        return None if x in ("", None) else float(x)

    if group == "procedure":
        keys = ["n", "service_mean_s", "service_median_s", "service_p90_s", "service_max_s"]
        first = 2
    else:
        keys = ["issued", "served", "no_show", "cancelled", "transferred", "left", "wait_mean_s", "wait_median_s",
                "wait_p90_s", "wait_max_s", "service_mean_s", "service_median_s", "service_p90_s", "service_max_s",
                "service_level"]
        first = 1
    expected = [[num(r[k]) for k in keys] for r in rep["rows"]]
    from_csv = [[num(x) for x in row[first:]] for row in sections["rows"][1:]]
    from_xlsx = [[num(c.value) for c in row[first:]] for row in wb["rows"].iter_rows(min_row=2)]
    assert from_csv == expected
    assert from_xlsx == expected
    header = next(i for i, row in enumerate(wb["summary"].iter_rows(values_only=True), 1) if row[0] == "Group")
    summary = [num(c.value) for c in next(wb["summary"].iter_rows(min_row=header + 1))[1:]]
    assert summary[0] == rep["summary"]["issued"] and summary[-1] == rep["summary"]["service_level"]
    procs = {row[0].value: row[2].value for row in wb["procedures"].iter_rows(min_row=2)}
    assert sorted(procs.values()) == sorted(p["n"] for p in rep["procedures"])
    heat = [[c.value for c in row[1:]] for row in wb["arrivals"].iter_rows(min_row=2)]
    assert heat == rep["heatmap"]["counts"]


def test_print_reports_render(srv):
    s = login(srv, "manager")
    day = s.get(srv.url + f"/manager/reports/print?period=day&date={DAY}&site=main", timeout=10)
    assert day.status_code == 200 and "BÁO CÁO NGÀY" in day.text and "@media print" not in day.text
    month = s.get(srv.url + "/manager/reports/print?period=month&month=2026-11&site=main", timeout=10)
    assert month.status_code == 200 and "BÁO CÁO THÁNG 11/2026" in month.text


def test_staffing_advice_json(srv):
    adv = srv.get(f"/manager/api/staffing?{Q}&target_sl=0.8", who="manager").json()
    (hour,) = adv["hours"]
    assert hour["hour"] == 9 and hour["pooled"] >= 1 and hour["dedicated"] == 4
    assert hour["had"] == pytest.approx(1.33, abs=0.01)


def test_bad_report_arguments_are_a_422_not_a_500(srv):
    r = srv.get("/manager/api/report?from=2026-02-30", who="manager")
    assert r.status_code == 422 and r.json()["error"] == "bad_date"
    assert srv.get("/manager/api/report?group=nope", who="manager").status_code == 422


def test_admin_manages_accounts_and_it_is_audited(srv):
    s = login(srv, "admin")
    token = csrf(s, srv, "/manager/admin/users")
    r = s.post(srv.url + "/manager/admin/users", data={"csrf_token": token, "action": "add", "username": "nv.moi",
                                                       "role": "staff", "display_name": "Nguyễn Văn Mới"}, timeout=10)
    assert r.status_code == 200
    password = re.search(r'id="shown-password">([^<]+)<', r.text).group(1)
    assert login_ok(srv, "nv.moi", password)
    s.post(srv.url + "/manager/admin/users", data={"csrf_token": token, "action": "role", "username": "nv.moi",
                                                   "role": "manager"}, timeout=10)
    s.post(srv.url + "/manager/admin/users", data={"csrf_token": token, "action": "disable", "username": "nv.moi"},
           timeout=10)
    assert not login_ok(srv, "nv.moi", password)
    r = s.post(srv.url + "/manager/admin/users", data={"csrf_token": token, "action": "reset", "username": "staff2"},
               timeout=10)
    new = re.search(r'id="shown-password">([^<]+)<', r.text).group(1)
    assert login_ok(srv, "staff2", new) and not login_ok(srv, "staff2", PASSWORD)
    import sqlite3

    with sqlite3.connect(srv.db) as conn:
        actions = [r[0] for r in conn.execute("SELECT action FROM audit_log WHERE actor = 'admin' AND target IN "
                                              "('nv.moi', 'staff2') ORDER BY id")]
    assert actions == ["user.add", "user.role", "user.disable", "user.reset"]


def login_ok(srv, user, password) -> bool:
    s = requests.Session()
    token = re.search(r'name="csrf-token" content="([^"]+)"', s.get(srv.url + "/login", timeout=10).text).group(1)
    r = s.post(srv.url + "/login", data={"username": user, "password": password, "csrf_token": token}, timeout=10,
               allow_redirects=False)
    return r.status_code == 302


def test_manager_cannot_open_account_admin(srv):
    s = login(srv, "manager")
    assert s.get(srv.url + "/manager/admin/users", timeout=10).status_code == 403
    assert s.get(srv.url + "/manager/admin/devices", timeout=10).status_code == 200


def test_device_tokens_are_created_and_revoked(srv):
    s = login(srv, "manager")
    token = csrf(s, srv, "/manager/admin/devices")
    form = {"csrf_token": token, "action": "create", "name": "main-kiosk-1", "role": "kiosk", "site": "main"}
    r = s.post(srv.url + "/manager/admin/devices", data=form, timeout=10)
    device = re.search(r'id="new-token">([^<]+)<', r.text).group(1)
    hdr = {"Authorization": f"Bearer {device}"}
    assert requests.get(srv.url + "/api/health", headers=hdr, timeout=10).status_code == 200
    assert requests.get(srv.url + f"/manager/api/report?{Q}", headers=hdr, timeout=10).status_code == 403
    import sqlite3

    with sqlite3.connect(srv.db) as conn:
        (tid,) = conn.execute("SELECT max(id) FROM tokens WHERE name = 'main-kiosk-1'").fetchone()
    s.post(srv.url + "/manager/admin/devices", data={"csrf_token": token, "action": "revoke", "id": str(tid)},
           timeout=10)
    assert requests.get(srv.url + f"/manager/api/report?{Q}", headers=hdr, timeout=10).status_code == 401


def test_a_device_token_is_made_only_for_a_kiosk_or_display_of_the_config(srv):
    import sqlite3

    s = login(srv, "manager")
    token = csrf(s, srv, "/manager/admin/devices")
    with sqlite3.connect(srv.db) as conn:
        before = conn.execute("SELECT count(*) FROM tokens").fetchone()[0]
    for name, role, site, says in (("main-kiosk-9", "kiosk", "main", "Không có thiết bị «main-kiosk-9»"),
                                   ("main-kiosk-1", "display", "main", "main-kiosk-1 là kiosk của"),
                                   ("main-kiosk-1", "kiosk", "branch", "main-kiosk-1 là kiosk của")):
        form = {"csrf_token": token, "action": "create", "name": name, "role": role, "site": site}
        r = s.post(srv.url + "/manager/admin/devices", data=form, timeout=10)
        assert r.status_code == 422, (name, role, site, r.status_code)
        assert says in r.text and 'id="new-token"' not in r.text
    with sqlite3.connect(srv.db) as conn:
        assert conn.execute("SELECT count(*) FROM tokens").fetchone()[0] == before


def test_counter_services_today_survive_a_restart(srv):
    s = login(srv, "manager")
    token = csrf(s, srv, "/manager/admin/counters")
    r = s.post(srv.url + "/manager/admin/counters", data={"csrf_token": token, "action": "save", "counter": "main-2",
                                                          "services": ["HD", "CT"]}, timeout=10)
    assert r.status_code == 200
    srv.restart()
    state = srv.get("/manager/api/overview?site=main", who="manager").json()
    main2 = next(c for c in state["counters"] if c["id"] == "main-2")
    assert main2["services"] == ["CT", "HD"]  # the configured preference order is kept
    s = login(srv, "manager")
    token = csrf(s, srv, "/manager/admin/counters")
    s.post(srv.url + "/manager/admin/counters", data={"csrf_token": token, "action": "save", "counter": "main-2",
                                                      "services": ["HD"]}, timeout=10)
    state = srv.get("/manager/api/overview?site=main", who="manager").json()
    assert next(c for c in state["counters"] if c["id"] == "main-2")["services"] == ["HD"]
