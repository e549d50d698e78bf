"""hub.toml: the province, its PostgreSQL database and its centers with the sites each may send.

A site code is the province's: two centers can never send records of the same site (a forged or mistaken
batch is refused whole), so every figure at the hub belongs to exactly one center.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ..config.model import Security
from ..config.read import ConfigError

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")


@dataclass(frozen=True)
class HubCenter:
    id: str
    name: str
    sites: tuple[str, ...]


@dataclass(frozen=True)
class HubConfig:
    name: str
    name_en: str
    timezone: str
    dsn: str
    centers: tuple[HubCenter, ...]
    source_path: str = ""
    trusted_proxies: tuple[str, ...] = Security().trusted_proxies  # nginx in front: whose X-Real-IP is believed

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def center(self, center_id: str) -> HubCenter | None:
        return next((c for c in self.centers if c.id == center_id), None)

    def center_of_site(self, site: str) -> HubCenter | None:
        return next((c for c in self.centers if site in c.sites), None)


def _text(d: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    v = d.get(key, default)
    if not isinstance(v, str) or not v.strip():
        raise ConfigError(f"{where}.{key}", "is required (text)")
    return v.strip()


def load_hub_config(path: str | Path) -> HubConfig:
    """Read and check hub.toml; the DSN may come from XEPHANG_HUB_DSN instead (no password in the file)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(str(p), "file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(p), f"is not valid TOML: {e}") from None
    hub = data.get("hub")
    if not isinstance(hub, dict):
        raise ConfigError("hub", "the [hub] section is required")
    dsn = os.environ.get("XEPHANG_HUB_DSN") or hub.get("dsn")
    if not isinstance(dsn, str) or not dsn:
        raise ConfigError("hub.dsn", "the PostgreSQL connection (or XEPHANG_HUB_DSN) is required")
    centers: list[HubCenter] = []
    owner: dict[str, str] = {}
    for i, c in enumerate(data.get("centers") or []):
        where = f"centers[{i}]"
        cid = _text(c, "id", where)
        if not CODE_RE.match(cid):
            raise ConfigError(f"{where}.id", "lower-case letters, digits, - and _ only")
        if any(x.id == cid for x in centers):
            raise ConfigError(f"{where}.id", f"center {cid!r} is defined twice")
        sites = c.get("sites")
        if not isinstance(sites, list) or not sites or not all(isinstance(s, str) and s for s in sites):
            raise ConfigError(f"{where}.sites", "a list of the center's site codes is required")
        for s in sites:
            if s in owner:
                raise ConfigError(f"{where}.sites", f"site {s!r} is already center {owner[s]!r}'s")
            owner[s] = cid
        centers.append(HubCenter(id=cid, name=_text(c, "name", where, cid), sites=tuple(sites)))
    tz = _text(hub, "timezone", "hub", "Asia/Ho_Chi_Minh")
    try:
        ZoneInfo(tz)
    except Exception:  # noqa: BLE001 - any unknown zone
        raise ConfigError("hub.timezone", f"unknown time zone {tz!r}") from None
    return HubConfig(name=_text(hub, "name", "hub"), name_en=_text(hub, "name_en", "hub", hub.get("name")),
                     timezone=tz, dsn=dsn, centers=tuple(centers), source_path=str(p.resolve()),
                     trusted_proxies=_proxies(hub))


def _proxies(hub: dict[str, Any]) -> tuple[str, ...]:
    """[hub] trusted_proxies: the reverse proxies (addresses or networks) whose X-Real-IP / X-Forwarded-For
    names the citizen, so the booking page's per-address limits count citizens, not the proxy."""
    if "trusted_proxies" not in hub:
        return Security().trusted_proxies
    items = hub["trusted_proxies"]
    if not isinstance(items, list):
        raise ConfigError("hub.trusted_proxies", "a list of addresses or networks is required")
    for i, item in enumerate(items):
        try:
            ipaddress.ip_network(str(item), strict=False)
        except ValueError:
            raise ConfigError(f"hub.trusted_proxies[{i}]", f"{item!r} is not an address or network") from None
    return tuple(str(x) for x in items)
