"""The engine's footing: the center's config as the queue reads it (a site, counter or service by code, with a
clear error; the services a counter serves today; the service day) and `sync_config`, which brings the
database's sites, services, procedures and counters in line with config.toml. Base class of the engine."""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime

from ..config.model import Config, Counter, Service, Site
from ..errors import Conflict, Invalid, NotFound
from ..storage import settings
from ..storage.store import Store
from .clock import Clock, service_day, to_iso


class Sites:
    store: Store
    config: Config
    clock: Clock

    # ------------------------------------------------------------------ configuration

    def sync_config(self) -> None:
        """Bring sites, services, procedures and counters in the database in line with config.toml.

        Rows that left the file are marked inactive, never deleted: history keeps its names.
        """
        now = to_iso(self.clock())
        cfg = self.config
        with self.store.write() as conn:
            conn.execute("UPDATE sites SET active = 0")
            conn.execute("UPDATE services SET active = 0")
            conn.execute("UPDATE procedures SET active = 0")
            conn.execute("UPDATE counters SET active = 0")
            for s in cfg.sites.values():
                conn.execute(
                    "INSERT INTO sites (code, name, name_en, active, updated_at) VALUES (?,?,?,1,?) "
                    "ON CONFLICT(code) DO UPDATE SET name=excluded.name, name_en=excluded.name_en, "
                    "active=1, updated_at=excluded.updated_at", (s.code, s.name, s.name_en, now))
                for c in s.counters:
                    conn.execute(
                        "INSERT INTO counters (id, site, number, name, services, active, updated_at) "
                        "VALUES (?,?,?,?,?,1,?) ON CONFLICT(id) DO UPDATE SET site=excluded.site, "
                        "number=excluded.number, name=excluded.name, services=excluded.services, active=1, "
                        "updated_at=excluded.updated_at",
                        (c.id, c.site, c.number, c.name, json.dumps(list(c.services)), now))
                    conn.execute(
                        "INSERT OR IGNORE INTO counter_state (counter_id, site, status, since, updated_at) "
                        "VALUES (?,?,'closed',?,?)", (c.id, c.site, now, now))
            for sv in cfg.services.values():
                conn.execute(
                    "INSERT INTO services (code, name, name_en, target_wait_min, active, updated_at) "
                    "VALUES (?,?,?,?,1,?) ON CONFLICT(code) DO UPDATE SET name=excluded.name, "
                    "name_en=excluded.name_en, target_wait_min=excluded.target_wait_min, active=1, "
                    "updated_at=excluded.updated_at", (sv.code, sv.name, sv.name_en, sv.target_wait_min, now))
                for p in sv.procedures:
                    conn.execute(
                        "INSERT INTO procedures (service, code, name, name_en, field, active) "
                        "VALUES (?,?,?,?,?,1) ON CONFLICT(service, code) DO UPDATE SET name=excluded.name, "
                        "name_en=excluded.name_en, field=excluded.field, active=1",
                        (sv.code, p.code, p.name, p.name_en, p.field))

    # ------------------------------------------------------------------ lookups

    def site(self, code: str) -> Site:
        site = self.config.sites.get(code) if isinstance(code, str) else None
        if site is None:
            raise NotFound(f"Không có điểm tiếp nhận '{code}'", f"Unknown site '{code}'", code="unknown_site")
        return site

    def served_here(self, site: Site) -> Site:
        """The site, if this server serves it: a site of a node ([[nodes]]) runs on the node's own server, and
        its records arrive here by sync; operating it here too would make two histories of one queue."""
        node = self.config.node_of_site(site.code)
        if node is not None:
            raise Conflict(f"{site.name} do máy tại chỗ '{node.name}' phục vụ: thao tác trên máy đó",
                           f"{site.name_en} is served by node '{node.id}': act on its own server",
                           code="served_by_node")
        return site

    def counter(self, counter_id: str) -> Counter:
        counter = self.config.counter(counter_id) if isinstance(counter_id, str) else None
        if counter is None:
            raise NotFound(f"Không có quầy '{counter_id}'", f"Unknown counter '{counter_id}'",
                           code="unknown_counter")
        return counter

    def service(self, site: Site, code: str) -> Service:
        if not isinstance(code, str) or code not in site.services:
            raise Invalid(f"Dịch vụ '{code}' không có tại {site.name}",
                          f"Service '{code}' is not offered at {site.name_en}", code="unknown_service")
        return self.config.services[code]

    def counter_services(self, counter: Counter, conn: sqlite3.Connection | None = None) -> tuple[str, ...]:
        """The services a counter serves today: the web override if a manager set one, else config.

        Pass `conn` when already holding a connection: a nested checkout could wait on the pool while
        holding the write lock.
        """
        if conn is None:
            with self.store.connection() as own:
                override = settings.counter_services(own, counter.id)
        else:
            override = settings.counter_services(conn, counter.id)
        if override:
            return tuple(s for s in override if s in self.config.sites[counter.site].services)
        return counter.services

    def today(self, site: Site, now: datetime | None = None) -> str:
        return service_day(now or self.clock(), site, self.config.tz)
