"""Dates inside Vietnamese text on the manager screens and exports: 23/11/2026 (or "thứ Hai, 23/11/2026"), never
ISO; the JSON and the exports' data columns keep ISO days."""

from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.manager_support import DAY, fixed_day_server, login

VN_DAY = "23/11/2026"  # DAY of tests/manager_support.py, a Monday
ISO_IN_TEXT = re.compile(r"\b20\d\d-\d\d-\d\d\b")


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    server = fixed_day_server(tmp_path_factory.mktemp("manager-dates"))
    yield server
    server.stop()


def visible_text(html: str) -> str:
    """The page's text without its tags, scripts, JSON and form values (an <input type=date> keeps ISO)."""
    html = re.sub(r"<script.*?</script>", " ", html, flags=re.S)
    html = re.sub(r"<style.*?</style>", " ", html, flags=re.S)
    return re.sub(r"<[^>]+>", " ", html)


def test_the_report_page_writes_its_days_in_vietnamese(srv):
    s = login(srv, "manager")
    week = s.get(srv.url + f"/manager/reports?from=2026-11-17&to={DAY}&site=main&group=day", timeout=10).text
    period = re.search(r'<p class="muted" id="report-period">(.*?)</p>', week, re.S).group(1)
    assert f"17/11/2026 – {VN_DAY}" in period and "→" not in period
    text = visible_text(week)
    assert f"thứ Hai, {VN_DAY}" in text  # the day's row of the table grouped by day
    assert not ISO_IN_TEXT.search(text), ISO_IN_TEXT.search(text)
    assert f'value="{DAY}"' in week  # the date inputs keep ISO, as browsers need


def test_the_printed_reports_write_their_days_in_vietnamese(srv):
    s = login(srv, "manager")
    day = s.get(srv.url + f"/manager/reports/print?period=day&date={DAY}&site=main", timeout=10).text
    assert f"BÁO CÁO NGÀY {VN_DAY}" in day
    month = visible_text(s.get(srv.url + "/manager/reports/print?period=month&month=2026-11&site=main",
                               timeout=10).text)
    assert "01/11/2026 – 30/11/2026" in month and f"thứ Hai, {VN_DAY}" in month
    assert not ISO_IN_TEXT.search(month), ISO_IN_TEXT.search(month)


def test_csv_and_xlsx_exports_open_with_a_heading_in_vietnamese_dates(srv):
    q = f"from=2026-11-17&to={DAY}&site=main&group=service"
    text = srv.get(f"/manager/reports.csv?{q}", who="manager").content.decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    heading = [row[0] for row in lines[:lines.index(["# Tổng hợp"])] if row]
    assert heading[0] == "Báo cáo tình hình tiếp nhận và phục vụ công dân"
    assert f"Thời gian: 17/11/2026 – {VN_DAY}" in heading
    assert re.fullmatch(r"Lập lúc \d\d:\d\d \d\d/\d\d/\d{4} \(Asia/Ho_Chi_Minh\)", heading[-1]), heading
    assert not any(ISO_IN_TEXT.search(h) for h in heading)
    trend = lines[lines.index(["# Theo ngày"]) + 2]  # the data columns stay ISO for spreadsheets
    assert re.fullmatch(r"20\d\d-\d\d-\d\d", trend[0])
    wb = load_workbook(io.BytesIO(srv.get(f"/manager/reports.xlsx?{q}", who="manager").content))
    first = [r[0] for r in wb["Tổng hợp"].iter_rows(max_row=4, values_only=True)]
    assert first == heading
    en = srv.get(f"/manager/reports.csv?{q}&lang=en", who="manager").content.decode("utf-8-sig")
    assert f"Period: 17/11/2026 – {VN_DAY}" in en


@pytest.mark.browser
def test_the_report_charts_label_days_in_vietnamese(page, srv):
    page.goto(srv.url + "/login")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)
    page.goto(srv.url + f"/manager/reports?from=2026-11-17&to={DAY}&site=main&group=day")
    expect(page.locator("#chart-trend")).to_be_visible()
    labels = page.evaluate("Object.values(Chart.instances).map((c) => c.data.labels)")
    assert labels and all(re.fullmatch(r"\d\d/\d\d/\d{4}", str(x)) for ls in labels[:2] for x in ls), labels
    assert VN_DAY in labels[0]
