"""Helpers for the counter, counter-top display and rating pad tests."""

from __future__ import annotations

import sqlite3
from typing import Any

from .conftest import PASSWORD, Server


def sign_in(page: Any, server: Server, user: str, next_path: str) -> None:
    """Sign in through the real form, landing on `next_path`."""
    page.goto(f"{server.url}/login?next={next_path}")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{server.url}{next_path}*")


def issue(server: Server, service: str, site: str = "main", who: str = "main-kiosk-1", **extra: Any) -> dict:
    r = server.post("/api/tickets", who=who, json={"site": site, "service": service, **extra})
    assert r.status_code == 201, r.text
    return r.json()


def ticket(server: Server, ticket_id: int) -> dict:
    r = server.get(f"/api/tickets/{ticket_id}", who="admin")
    assert r.status_code == 200, r.text
    return r.json()


def query(server: Server, sql: str, *args: Any) -> list[sqlite3.Row]:
    conn = sqlite3.connect(server.db)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()
