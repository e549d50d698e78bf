"""The `settings` table: what staff change at run time (config.toml is the rest). The only module that
writes it; every key has its typed accessors here, each used inside the caller's transaction.

Keys:
- `counter_services:<counter>`: the services a counter serves today, in preference order (manager page).
- `display_notice`: the notice line of the hall displays, per site (display settings page).
- `agent_test_print:<kiosk>`: a test page for a kiosk PC's print agent, pending → printing → printed/failed.
- `display_voice:<display>`: the voice packs a display announces with, in order (Vietnamese, then a local
  language); none: espeak-ng or the browser's voice, as before (display settings page).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

COUNTER_SERVICES = "counter_services:"
NOTICE = "display_notice"
AGENT_TEST = "agent_test_print:"
DISPLAY_VOICE = "display_voice:"


def _get(conn: sqlite3.Connection, key: str) -> Any:
    """The key's value, None if unset or unreadable."""
    row = conn.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
    if row is None:
        return None
    try:
        return json.loads(row[0])
    except ValueError:
        return None


def _put(conn: sqlite3.Connection, key: str, value: Any, at: str, by: str | None) -> None:
    """Set the key; `by` None keeps who set it last (a device's progress report on a staff member's job)."""
    conn.execute("INSERT INTO settings (key, value, updated_at, updated_by) VALUES (?,?,?,?) "
                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at, "
                 "updated_by = coalesce(excluded.updated_by, updated_by)",
                 (key, json.dumps(value, ensure_ascii=False), at, by))


def _delete(conn: sqlite3.Connection, key: str) -> None:
    conn.execute("DELETE FROM settings WHERE key = ?", (key,))


# ------------------------------------------------------------------ counters' services today


def counter_services(conn: sqlite3.Connection, counter_id: str) -> list[str] | None:
    """The services set for a counter today, or None (its config.toml list applies)."""
    value = _get(conn, COUNTER_SERVICES + counter_id)
    return value if isinstance(value, list) else None


def all_counter_services(conn: sqlite3.Connection) -> dict[str, Any]:
    """Every counter's override by counter id (one read for a whole site's estimate)."""
    out = {}
    for key, value in conn.execute("SELECT key, value FROM settings WHERE key LIKE 'counter_services:%'"):
        try:
            out[key.split(":", 1)[1]] = json.loads(value)
        except ValueError:
            continue
    return out


def set_counter_services(conn: sqlite3.Connection, counter_id: str, services: list[str] | None, at: str,
                         by: str) -> None:
    """Set a counter's services for today; None or empty: back to its config.toml list."""
    if services:
        _put(conn, COUNTER_SERVICES + counter_id, services, at, by)
    else:
        _delete(conn, COUNTER_SERVICES + counter_id)


# ------------------------------------------------------------------ the displays' notice line


def notice(conn: sqlite3.Connection, site: str) -> str:
    """The notice line of `site`'s displays ("" when none). Stored as {"text", "site", "sites": {site: text}};
    an older row holds one text for one site (or for all, when its site is empty)."""
    value = _get(conn, NOTICE)
    if not isinstance(value, dict):
        return ""
    sites = value.get("sites")
    if isinstance(sites, dict):
        text = sites.get(site, "")
    elif value.get("site") in (site, None, ""):
        text = value.get("text", "")
    else:
        text = ""
    return text if isinstance(text, str) else ""


def set_notice(conn: sqlite3.Connection, site: str, text: str, known_sites: Any, at: str, by: str) -> None:
    """Set `site`'s notice line, keeping the other sites' (an older single-site row is carried over)."""
    value = _get(conn, NOTICE)
    if not isinstance(value, dict):
        value = {}
    sites = value.get("sites") if isinstance(value.get("sites"), dict) else {}
    if not sites and isinstance(value.get("text"), str) and value.get("site") in known_sites:
        sites[value["site"]] = value["text"]
    sites[site] = text
    _put(conn, NOTICE, {"text": text, "site": site, "sites": sites}, at, by)


# ------------------------------------------------------------------ a print agent's test page


def agent_test(conn: sqlite3.Connection, kiosk_id: str) -> dict[str, Any]:
    """The kiosk's test page job ({} when none)."""
    value = _get(conn, AGENT_TEST + kiosk_id)
    return value if isinstance(value, dict) else {}


def set_agent_test(conn: sqlite3.Connection, kiosk_id: str, job: dict[str, Any], at: str,
                   by: str | None = None) -> None:
    _put(conn, AGENT_TEST + kiosk_id, job, at, by)


def drop_agent_test(conn: sqlite3.Connection, kiosk_id: str) -> None:
    _delete(conn, AGENT_TEST + kiosk_id)


# ------------------------------------------------------------------ a display's voice packs


def display_voice_packs(conn: sqlite3.Connection, display_id: str) -> list[int]:
    """The pack ids a display announces with, in order ([] when none is set)."""
    value = _get(conn, DISPLAY_VOICE + display_id)
    packs = value.get("packs") if isinstance(value, dict) else None
    return [p for p in packs if isinstance(p, int) and not isinstance(p, bool)] if isinstance(packs, list) else []


def set_display_voice_packs(conn: sqlite3.Connection, display_id: str, packs: list[int], at: str, by: str) -> None:
    if packs:
        _put(conn, DISPLAY_VOICE + display_id, {"packs": packs}, at, by)
    else:
        _delete(conn, DISPLAY_VOICE + display_id)
