"""The hub's booking tables (issue 17), kept apart from center/hub/schema.py's record tables.

Two kinds of bookings live here. `bookings` holds every center's bookings as the center sent them (a synced,
mutable table like `tickets`: the center's copy is the truth of what happened, kept, late or no-show).
`hub_bookings` holds those made at the hub (the public page, the API): the hub is their origin, and each
change takes the next `ver` of a sequence, so a center asks only for what changed past its mark.
`hub_booking_plans` holds each center's booking plan: what its slots' places are counted from.

No phone number is stored: only its keyed hash (HMAC-SHA-256 with the hub's pepper, a secret file beside
hub.toml), enough to find a person's bookings for the per-day cap and to check a cancellation.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from .config import HubConfig

# (table, its key after `center`, partition column, PostgreSQL columns): merged into ingest's synced tables.
TABLES: dict[str, tuple[tuple[str, ...], str | None, str]] = {
    "bookings": (("code",), None, """
  code text NOT NULL, site text NOT NULL, service text NOT NULL, service_day date NOT NULL, slot_at timestamptz,
  slot_min integer, name text, phone_hash text, origin text, status text NOT NULL, ticket_id bigint, late integer,
  created_at timestamptz, updated_at timestamptz, cancelled_at timestamptz, checked_in_at timestamptz"""),
}

DDL = """
CREATE TABLE IF NOT EXISTS bookings (
  center text NOT NULL,{bookings},
  sync_ver bigint,
  PRIMARY KEY (center, code)
);
CREATE INDEX IF NOT EXISTS bookings_slot ON bookings (center, site, service, slot_at);
CREATE INDEX IF NOT EXISTS bookings_day ON bookings (center, service_day);
ALTER TABLE tickets ADD COLUMN IF NOT EXISTS booking text;
CREATE SEQUENCE IF NOT EXISTS hub_booking_ver;
CREATE TABLE IF NOT EXISTS hub_bookings (
  center text NOT NULL,
  code text NOT NULL,
  site text NOT NULL,
  service text NOT NULL,
  service_day date NOT NULL,
  slot_at timestamptz NOT NULL,
  slot_min integer NOT NULL,
  name text,
  phone_hash text,
  channel text NOT NULL DEFAULT 'page',
  status text NOT NULL CHECK (status IN ('booked', 'cancelled')),
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  cancelled_at timestamptz,
  ver bigint NOT NULL DEFAULT nextval('hub_booking_ver'),
  PRIMARY KEY (center, code)
);
CREATE UNIQUE INDEX IF NOT EXISTS hub_bookings_code ON hub_bookings (code);
CREATE INDEX IF NOT EXISTS hub_bookings_ver ON hub_bookings (center, ver);
CREATE INDEX IF NOT EXISTS hub_bookings_slot ON hub_bookings (center, site, service, slot_at);
CREATE INDEX IF NOT EXISTS hub_bookings_person ON hub_bookings (center, service_day, phone_hash);
CREATE INDEX IF NOT EXISTS hub_bookings_personal ON hub_bookings (slot_at) WHERE name IS NOT NULL
  OR phone_hash IS NOT NULL;
-- Each center's booking plan (center/queue/bookings.py `booking_plan`, sent when its hash differs): per site and
-- service the measured places per slot and the walk-ins' measured waits by slot start. The page counts a slot's
-- places from it exactly as the center does. A center that never sent one is counted from its labels.
CREATE TABLE IF NOT EXISTS hub_booking_plans (
  center text PRIMARY KEY,
  hash text NOT NULL,
  plan jsonb NOT NULL,
  at timestamptz NOT NULL
);
-- The province's other systems: a name and the SHA-256 of its bearer token (`xephang hub api-token NAME`).
CREATE TABLE IF NOT EXISTS hub_api_tokens (
  name text PRIMARY KEY,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL
);
-- Requests per client address and minute on the public booking page: a flood is refused, not queued.
CREATE UNLOGGED TABLE IF NOT EXISTS hub_rate (
  addr text NOT NULL,
  minute timestamptz NOT NULL,
  n integer NOT NULL,
  PRIMARY KEY (addr, minute)
)
"""


def ddl() -> list[str]:
    text = DDL.replace("{bookings}", TABLES["bookings"][2])
    return [s.strip() for s in text.split(";") if s.strip()]


def ensure_schema(conn: Any) -> None:
    """Idempotent, at every start; after center/hub/schema.py's tables (the ALTER needs `tickets`)."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(7310004)")  # two workers starting at once
        for statement in ddl():
            conn.execute(statement)


def pepper(cfg: HubConfig) -> bytes:
    """XEPHANG_HUB_PEPPER, else `hub.pepper` beside hub.toml (made once, owner-only). Losing it only means the
    hashes of bookings already made no longer match a typed phone (their codes still work)."""
    env = os.environ.get("XEPHANG_HUB_PEPPER")
    if env:
        return env.encode()
    path = Path(cfg.source_path or "hub.toml").with_name("hub.pepper")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text(encoding="utf-8").strip().encode()
    key = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(key)
    return key.encode()
