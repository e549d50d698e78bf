"""The voice packs page (/manager/voice) for managers who have no copy of the repository: the recording advice is
on the page itself, and "Tạo" with no name says what is missing."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def sign_in(page, server, user: str = "manager") -> None:
    page.goto(server.url + "/login?next=/manager/voice")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/login" not in url)


def test_the_recording_advice_is_on_the_page_not_a_repository_path(page, server):
    sign_in(page, server)
    expect(page.locator("#vp-advice")).to_be_visible()
    expect(page.locator("#vp-advice")).to_contain_text("Micrô cách miệng 15–20 cm")
    expect(page.locator("#vp-advice")).to_contain_text("Phòng yên tĩnh")
    assert "docs/" not in page.inner_text("main")
    page.goto(server.url + "/manager/voice?lang=en")
    expect(page.locator("#vp-advice")).to_contain_text("microphone 15–20 cm from the mouth")


def test_create_with_an_empty_or_blank_name_says_so_and_creates_nothing(page, server):
    sign_in(page, server)
    before = len(server.get("/manager/api/voice", who="manager").json()["packs"])
    for typed in ("", "   "):
        page.fill("#vp-name", typed)
        page.click("#vp-new button[type=submit]")
        expect(page.locator("#vp-message")).to_contain_text("Hãy nhập tên bộ giọng")
        expect(page.locator("#vp-name")).to_have_attribute("aria-invalid", "true")
        expect(page.locator("#vp-name")).to_be_focused()
        page.evaluate("document.getElementById('vp-message').textContent = ''")
    assert len(server.get("/manager/api/voice", who="manager").json()["packs"]) == before
