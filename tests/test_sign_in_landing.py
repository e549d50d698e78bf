"""Where sign-in leads: managers and admins to the overview, staff to their counter (or the list of counters to
choose one), a safe `next=` first, an unsafe one ignored."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD


def post_login(web, user: str, query: str = ""):
    page = web.client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    r = web.client.post("/login" + query, data={"username": user, "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302, r.get_data(as_text=True)[:300]
    return r.headers["Location"]


@pytest.mark.parametrize("user", ["manager", "admin"])
def test_a_manager_or_admin_lands_on_the_overview(web, user):
    assert post_login(web, user) == "/manager/"


def test_staff_without_a_counter_land_on_the_list_of_counters(web):
    assert post_login(web, "staff1") == "/#counters"


def test_staff_land_on_the_counter_they_hold(web):
    assert web.post("/api/counters/main-3/take", who="staff1").status_code == 200
    assert post_login(web, "staff1") == "/counter/main-3"


def test_staff_land_on_the_counter_they_took_last_after_leaving_it(web):
    assert web.post("/api/counters/main-2/take", who="staff2").status_code == 200
    assert web.post("/api/counters/main-2/release", who="staff2", json={}).status_code == 200
    assert post_login(web, "staff2") == "/counter/main-2"


def test_a_safe_next_wins_and_an_unsafe_one_falls_back_to_the_landing(web):
    assert post_login(web, "staff1", "?next=/manager/audit%3Fdate%3D2026-12-07") == "/manager/audit?date=2026-12-07"
    for bad in ("https://evil.example/", "//evil.example/", "/%5Cevil.example/", "javascript:alert(1)"):
        assert post_login(web, "manager", "?next=" + bad) == "/manager/", bad


@pytest.mark.browser
def test_in_the_browser_a_manager_signs_in_to_the_overview(page, server):
    page.goto(server.url + "/login")
    page.fill("input[name=username]", "manager")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page).to_have_url(server.url + "/manager/")
    expect(page.locator("h1")).to_contain_text("Tổng quan")
