"""Load and validate `config.toml`: the center, its sites, services, counters, devices and rules.

The file is the starting point for everything the queue knows about the center. It is validated as
a whole on start so that a typo stops the server with the key and the problem named, instead of
surfacing as a wrong queue at 8 o'clock on a Monday. What it builds is in center/config/model.py.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from printer_drivers.printer import Printer  # one definition, shared with the print agent

from .booking import parse_booking
from .federation import parse_nodes, parse_upstream
from .model import (
    DEFAULT_RATING,
    GROUP_ICONS,
    RATING_FACES,
    WEEKDAYS,
    ZERO_TENS,
    Config,
    Counter,
    Display,
    Kiosk,
    NumberFormat,
    PriorityGroup,
    Procedure,
    QueueRules,
    Rating,
    RatingLevel,
    RatingReason,
    Security,
    Service,
    Site,
    Voice,
)

CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
INTERVAL_RE = re.compile(r"^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$")
HHMM_RE = re.compile(r"^(\d{1,2}):(\d{2})$")


class ConfigError(ValueError):
    """A configuration problem, naming the key (e.g. `sites[0].counters[2].services`)."""

    def __init__(self, key: str, problem: str):
        super().__init__(f"{key}: {problem}")
        self.key = key
        self.problem = problem


# --------------------------------------------------------------------------------------------
# Parsing helpers: each takes the key path so that errors name it.


class _Reader:
    def __init__(self, data: Any, key: str):
        if not isinstance(data, dict):
            raise ConfigError(key or "(top level)", "must be a table")
        self.data = data
        self.key = key
        self.known: set[str] = set()

    def path(self, name: str) -> str:
        return f"{self.key}.{name}" if self.key else name

    def _get(self, name: str, required: bool) -> Any:
        self.known.add(name)
        if name not in self.data:
            if required:
                raise ConfigError(self.path(name), "is required")
            return None
        return self.data[name]

    def str(self, name: str, default: str | None = None, *, code: bool = False) -> str:
        value = self._get(name, default is None)
        if value is None:
            return default  # type: ignore[return-value]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(self.path(name), "must be a non-empty string")
        if code and not CODE_RE.fullmatch(value):
            raise ConfigError(self.path(name), f"{value!r} is not a valid code (letters, digits, - _ .)")
        return value.strip()

    def int(self, name: str, default: int | None = None, *, low: int = 0, high: int = 10**9) -> int:
        value = self._get(name, default is None)
        if value is None:
            return default  # type: ignore[return-value]
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(self.path(name), "must be a whole number")
        if not low <= value <= high:
            raise ConfigError(self.path(name), f"must be between {low} and {high}")
        return value

    def num(self, name: str, default: float | None = None, *, low: float = 0, high: float = 1e9) -> float:
        value = self._get(name, default is None)
        if value is None:
            return default  # type: ignore[return-value]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(self.path(name), "must be a number")
        if not low <= value <= high:
            raise ConfigError(self.path(name), f"must be between {low} and {high}")
        return float(value)

    def bool(self, name: str, default: bool) -> bool:
        value = self._get(name, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise ConfigError(self.path(name), "must be true or false")
        return value

    def list(self, name: str, *, required: bool = False) -> list[Any]:
        value = self._get(name, required)
        if value is None:
            return []
        if not isinstance(value, list):
            raise ConfigError(self.path(name), "must be a list")
        return value

    def table(self, name: str) -> _Reader:
        value = self._get(name, False)
        return _Reader({} if value is None else value, self.path(name))

    def tables(self, name: str, *, required: bool = False) -> list[_Reader]:
        items = self.list(name, required=required)
        if required and not items:
            raise ConfigError(self.path(name), "needs at least one entry")
        return [_Reader(item, f"{self.path(name)}[{i}]") for i, item in enumerate(items)]

    def finish(self) -> None:
        """Unknown keys are errors: a misspelt key silently ignored is a wrong queue."""
        unknown = sorted(set(self.data) - self.known)
        if unknown:
            raise ConfigError(self.path(unknown[0]), "is not a known setting")


def _zero_tens(word: str) -> bool:
    """voice.zero_tens: the word for an empty tens place, "linh" (northern) or "lẻ" (southern) → southern?"""
    import unicodedata

    key = unicodedata.normalize("NFC", word)
    if key not in ZERO_TENS:
        raise ConfigError("voice.zero_tens", f"must be \"linh\" (105: một trăm linh năm) or \"lẻ\" "
                                             f"(105: một trăm lẻ năm), not {word!r}")
    return ZERO_TENS[key]


def _parse_date(value: Any, key: str) -> str:
    """A calendar date that exists (a TOML date or "YYYY-MM-DD"): "2026-02-30" would never match a day and the
    site would silently stay open."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            raise ConfigError(key, f"{value!r} is not a real calendar date") from None
    raise ConfigError(key, f"{value!r} is not a date like 2026-01-01")


def _parse_hhmm(text: Any, key: str) -> time:
    m = HHMM_RE.fullmatch(text) if isinstance(text, str) else None
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ConfigError(key, f"{text!r} is not a time like 07:30")
    return time(int(m.group(1)), int(m.group(2)))


def _parse_interval(text: Any, key: str) -> tuple[time, time | None]:
    m = INTERVAL_RE.fullmatch(text) if isinstance(text, str) else None
    if not m:
        raise ConfigError(key, f"{text!r} is not an interval like \"07:30-11:30\"")
    h1, m1, h2, m2 = (int(g) for g in m.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ConfigError(key, f"{text!r} has an impossible time")
    start = time(h1, m1)
    end = None if h2 == 24 else time(h2, m2)
    if end is not None and end <= start:
        raise ConfigError(key, f"{text!r} ends before it starts")
    return start, end


def _parse_number(r: _Reader) -> NumberFormat:
    prefix = r.str("prefix", "")
    series = r.list("series")
    if prefix and series:
        raise ConfigError(r.path("series"), "use either prefix (A001) or series (1001–1999), not both")
    if series:
        if len(series) != 2 or not all(isinstance(x, int) and not isinstance(x, bool) for x in series):
            raise ConfigError(r.path("series"), "must be two whole numbers, e.g. [1001, 1999]")
        first, last = series
        if not 0 <= first < last <= 999_999:
            raise ConfigError(r.path("series"), "must go up, within 0–999999")
        return NumberFormat(prefix="", digits=len(str(last)), first=first, last=last)
    if prefix and not re.fullmatch(r"[A-Z]{1,2}", prefix):
        raise ConfigError(r.path("prefix"), "must be one or two capital letters")
    digits = r.int("digits", 3, low=1, high=6)
    return NumberFormat(prefix=prefix, digits=digits, first=1, last=10**digits - 1)


def _parse_hours(r: _Reader) -> dict[str, tuple[tuple[time, time | None], ...]]:
    default = [
        _parse_interval(x, f"{r.path('default')}[{i}]") for i, x in enumerate(r.list("default"))
    ]
    hours: dict[str, tuple[tuple[time, time | None], ...]] = {}
    for day in WEEKDAYS:
        if day in r.data:
            items = r.list(day)
            hours[day] = tuple(_parse_interval(x, f"{r.path(day)}[{i}]") for i, x in enumerate(items))
        else:
            hours[day] = tuple(default)
    r.finish()
    for day, intervals in hours.items():
        ordered = sorted(intervals, key=lambda iv: iv[0])
        for a, b in zip(ordered, ordered[1:], strict=False):
            if a[1] is None or a[1] > b[0]:
                raise ConfigError(r.path(day), "opening intervals overlap")
        hours[day] = tuple(ordered)
    return hours


def _parse_printer(r: _Reader) -> Printer:
    driver = r.str("driver", "none")
    if driver not in ("none", "network", "usb", "serial", "file", "cups", "agent"):
        raise ConfigError(r.path("driver"), "must be one of none, network, usb, serial, file, cups, agent")
    printer = Printer(
        driver=driver,
        host=r.str("host", ""),
        port=r.int("port", 9100, low=1, high=65535),
        usb_vendor=r.int("usb_vendor", 0, high=0xFFFF),
        usb_product=r.int("usb_product", 0, high=0xFFFF),
        device=r.str("device", ""),
        baudrate=r.int("baudrate", 9600, low=1200, high=921600),
        queue=r.str("queue", ""),
        paper_mm=r.int("paper_mm", 80, low=58, high=80),
        profile=r.str("profile", "TM-T88V"),
        timeout_s=r.num("timeout_s", 2.5, low=0.2, high=10),
        text_mode=r.bool("text_mode", False),
    )
    if printer.paper_mm not in (58, 80):
        raise ConfigError(r.path("paper_mm"), "must be 58 or 80")
    needs = {"network": "host", "serial": "device", "file": "device", "cups": "queue"}
    if driver in needs and not getattr(printer, needs[driver]):
        raise ConfigError(r.path(needs[driver]), f"is required for the {driver} driver")
    if driver == "usb" and not (printer.usb_vendor and printer.usb_product):
        raise ConfigError(r.path("usb_vendor"), "usb_vendor and usb_product are required for usb")
    r.finish()
    return printer


def parse_config(data: dict[str, Any], source_path: str = "") -> Config:
    """Validate a parsed TOML document and build the immutable Config."""
    top = _Reader(data, "")

    c = top.table("center")
    center_name = c.str("name")
    center_name_en = c.str("name_en", center_name)
    timezone = c.str("timezone", "Asia/Ho_Chi_Minh")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError("center.timezone", f"{timezone!r} is not a known time zone") from None
    footer = c.str("ticket_footer", "Xin cảm ơn Ông/Bà!")
    c.finish()

    q = top.table("queue")
    policy = q.str("priority_policy", "interleaved")
    if policy not in ("strict", "interleaved"):
        raise ConfigError("queue.priority_policy", "must be \"strict\" or \"interleaved\"")
    rules = QueueRules(
        priority_policy=policy,
        interleave_every=q.int("interleave_every", 2, low=1, high=50),
        aging_min=q.num("aging_min", 30, low=1, high=600),
        transfer_keeps_place=q.bool("transfer_keeps_place", True),
        no_show_confirm_s=q.num("no_show_confirm_s", 20, low=0, high=600),
    )
    q.finish()

    v = top.table("voice")
    voice = Voice(
        template=v.str("template", "Xin mời công dân có số thứ tự {number} đến quầy số {counter}"),
        template_en=v.str("template_en", "Ticket number {number}, please go to counter {counter}"),
        read_digits=v.bool("read_digits", False),
        repeat=v.int("repeat", 2, low=1, high=5),
        rate=v.num("rate", 0.8, low=0.5, high=1.5),
        english=v.bool("english", False),
        southern=_zero_tens(v.str("zero_tens", "linh")),
    )
    for key, template in (("voice.template", voice.template), ("voice.template_en", voice.template_en)):
        if "{number}" not in template or "{counter}" not in template:
            raise ConfigError(key, "must contain {number} and {counter}")
    v.finish()

    groups: list[PriorityGroup] = []
    for g in top.tables("priority_groups"):
        code = g.str("code", code=True)
        icon = g.str("icon", code if code in GROUP_ICONS else "priority")
        if icon not in GROUP_ICONS:
            raise ConfigError(g.path("icon"), f"must be one of {', '.join(GROUP_ICONS)}")
        groups.append(PriorityGroup(code=code, name=g.str("name"), name_en=g.str("name_en", g.data.get("name", "")),
                                    icon=icon))
        g.finish()
    _unique([g.code for g in groups], "priority_groups", "code")

    services: dict[str, Service] = {}
    for s in top.tables("services", required=True):
        code = s.str("code", code=True)
        if code in services:
            raise ConfigError(s.path("code"), f"service {code!r} is defined twice")
        procedures = []
        for p in s.tables("procedures"):
            procedures.append(Procedure(code=p.str("code", code=True), name=p.str("name"),
                                        name_en=p.str("name_en", p.data.get("name", "")),
                                        field=p.str("field", ""), mean_min=p.num("mean_min", 0, high=480)))
            p.finish()
        _unique([p.code for p in procedures], s.path("procedures"), "code")
        cap = s.int("daily_cap", 0, high=100_000)
        services[code] = Service(
            code=code,
            name=s.str("name"),
            name_en=s.str("name_en", s.data.get("name", "")),
            icon=s.str("icon", "generic"),
            number=_parse_number(_Reader({k: s.data[k] for k in ("prefix", "digits", "series")
                                          if k in s.data}, s.key)),
            target_wait_min=s.num("target_wait_min", 15, low=1, high=600),
            daily_cap=cap or None,
            allow_priority=s.bool("allow_priority", True),
            default_service_min=s.num("default_service_min", 6, low=0.5, high=480),
            procedures=tuple(procedures),
        )
        s.known.update({"prefix", "digits", "series"})
        s.finish()

    sites: dict[str, Site] = {}
    all_ids: dict[str, str] = {}
    for s in top.tables("sites", required=True):
        code = s.str("code", code=True)
        if code in sites:
            raise ConfigError(s.path("code"), f"site {code!r} is defined twice")
        site_services = [str(x) for x in s.list("services")] or list(services)
        for i, sv in enumerate(site_services):
            if sv not in services:
                raise ConfigError(f"{s.path('services')}[{i}]", f"unknown service {sv!r}")
        numbering: dict[str, NumberFormat] = {}
        ntab = s.table("numbering")
        for sv in list(ntab.data):
            if sv not in site_services:
                raise ConfigError(ntab.path(sv), f"service {sv!r} is not offered at this site")
            numbering[sv] = _parse_number(ntab.table(sv))
        ntab.finish()
        counters = []
        for cr in s.tables("counters", required=True):
            cid = cr.str("id", code=True)
            served = tuple(str(x) for x in cr.list("services", required=True))
            if not served:
                raise ConfigError(cr.path("services"), "needs at least one service")
            for i, sv in enumerate(served):
                if sv not in services:
                    raise ConfigError(f"{cr.path('services')}[{i}]", f"unknown service {sv!r}")
                if sv not in site_services:
                    raise ConfigError(f"{cr.path('services')}[{i}]", f"service {sv!r} is not offered at site {code!r}")
            _unique(list(served), cr.path("services"), "service")
            counters.append(Counter(id=cid, site=code, number=cr.int("number", low=1, high=999),
                                    name=cr.str("name", f"Quầy {cr.data.get('number', '')}"), services=served))
            cr.finish()
        _unique([c.number for c in counters], s.path("counters"), "number")
        kiosks = []
        for kr in s.tables("kiosks"):
            kiosks.append(Kiosk(id=kr.str("id", code=True), site=code, name=kr.str("name", kr.data.get("id", "")),
                                printer=_parse_printer(kr.table("printer")), voice=kr.bool("voice", False)))
            kr.finish()
        displays = []
        counter_ids = {c.id for c in counters}
        for dr in s.tables("displays"):
            dc = tuple(str(x) for x in dr.list("counters"))
            for i, cid in enumerate(dc):
                if cid not in counter_ids:
                    raise ConfigError(f"{dr.path('counters')}[{i}]", f"unknown counter {cid!r} at site {code!r}")
            ds = tuple(str(x) for x in dr.list("services"))
            for i, sv in enumerate(ds):
                if sv not in site_services:
                    raise ConfigError(f"{dr.path('services')}[{i}]", f"service {sv!r} is not offered at site {code!r}")
            displays.append(Display(id=dr.str("id", code=True), site=code,
                                    name=dr.str("name", dr.data.get("id", "")), counters=dc, services=ds))
            dr.finish()
        for kind, items in (("counter", counters), ("kiosk", kiosks), ("display", displays)):
            for item in items:
                if item.id in all_ids:
                    raise ConfigError(s.path(kind + "s"), f"id {item.id!r} is used twice ({all_ids[item.id]})")
                all_ids[item.id] = f"{kind} at {code}"
        closed = [_parse_date(x, f"{s.path('closed_dates')}[{i}]") for i, x in enumerate(s.list("closed_dates"))]
        sites[code] = Site(
            code=code,
            name=s.str("name"),
            name_en=s.str("name_en", s.data.get("name", "")),
            address=s.str("address", ""),
            services=tuple(site_services),
            numbering=numbering,
            hours=_parse_hours(s.table("hours")),
            closed_dates=tuple(closed),
            numbering_starts_at=_parse_hhmm(s.data.get("numbering_starts_at", "00:00"),
                                            s.path("numbering_starts_at")),
            stop_issuing_before_close_min=s.int("stop_issuing_before_close_min", 15, high=240),
            counters=tuple(counters),
            kiosks=tuple(kiosks),
            displays=tuple(displays),
        )
        s.known.add("numbering_starts_at")
        s.finish()
        for sv in site_services:
            fmt = numbering.get(sv) or services[sv].number
            for other in site_services:
                ofmt = numbering.get(other) or services[other].number
                if other != sv and _ranges_clash(fmt, ofmt):
                    raise ConfigError(s.path("services"),
                                      f"services {sv!r} and {other!r} would print the same numbers at this site")
    rating = _parse_rating(top.table("rating"))
    security = _parse_security(top.table("security"))
    upstream = parse_upstream(top.table("upstream"))
    nodes = parse_nodes(top.tables("nodes"), sites)
    if upstream and nodes:
        raise ConfigError("nodes", "a node ([upstream]) cannot have nodes of its own")
    hub = parse_upstream(top.table("hub"), name_key="center")
    booking = parse_booking(top.table("booking"), services)
    if upstream and hub:
        raise ConfigError("hub", "a node ([upstream]) sends to its center, which sends to the hub")
    top.finish()
    return Config(center_name=center_name, center_name_en=center_name_en, timezone=timezone,
                  ticket_footer=footer, rules=rules, voice=voice, priority_groups=tuple(groups),
                  services=services, sites=sites, source_path=source_path, security=security, rating=rating,
                  upstream=upstream, nodes=nodes, hub=hub, booking=booking)


ORIGIN_RE = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?$|^https?://\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")


def _parse_security(r: _Reader) -> Security:
    """[security]: origins as a browser writes them (scheme://host[:port], no path), proxies as addresses or
    networks."""
    import ipaddress

    origins = []
    for i, origin in enumerate(r.list("allowed_origins")):
        if not isinstance(origin, str) or not ORIGIN_RE.match(origin):
            raise ConfigError(f"{r.path('allowed_origins')}[{i}]",
                              f"{origin!r} is not an origin like \"https://xephang.example.vn\" (no path, no /)")
        origins.append(origin.lower())
    proxies = []
    default = Security().trusted_proxies
    for i, proxy in enumerate(r.list("trusted_proxies") if "trusted_proxies" in r.data else default):
        try:
            ipaddress.ip_network(proxy, strict=False)
        except (TypeError, ValueError):
            raise ConfigError(f"{r.path('trusted_proxies')}[{i}]",
                              f"{proxy!r} is not an IP address or network like 127.0.0.1 or 10.0.0.0/8") from None
        proxies.append(proxy)
    cap = r.int("anonymous_sockets_per_address", Security.anonymous_sockets_per_address, low=1, high=100_000)
    r.finish()
    return Security(allowed_origins=tuple(origins), trusted_proxies=tuple(proxies), anonymous_sockets_per_address=cap)


def _parse_rating(r: _Reader) -> Rating:
    """[rating], optional: no levels keeps the default three, no `reasons` key the default reasons (an empty
    list: none asked). A level's English name defaults to its name; it asks for reasons by default when its
    face is unhappy."""
    window = r.num("window_min", DEFAULT_RATING.window_min, low=0.5, high=120)
    timeout = r.int("timeout_s", DEFAULT_RATING.timeout_s, low=5, high=600)
    levels = []
    for lv in r.tables("levels"):
        code, name = lv.str("code", code=True), lv.str("name")
        face = lv.str("face", "neutral")
        if face not in RATING_FACES:
            raise ConfigError(lv.path("face"), f"must be one of {', '.join(RATING_FACES)}")
        levels.append(RatingLevel(code, name, lv.str("name_en", name), face,
                                  lv.bool("ask_reasons", face in ("unhappy", "very_unhappy"))))
        lv.finish()
    if levels and len(levels) < 2:
        raise ConfigError(r.path("levels"), "needs at least two levels")
    _unique([lv.code for lv in levels], r.path("levels"), "code")
    reasons = []
    for rs in r.tables("reasons"):
        code, name = rs.str("code", code=True), rs.str("name")
        reasons.append(RatingReason(code, name, rs.str("name_en", name)))
        rs.finish()
    _unique([rs.code for rs in reasons], r.path("reasons"), "code")
    r.finish()
    return Rating(levels=tuple(levels) or DEFAULT_RATING.levels,
                  reasons=tuple(reasons) if "reasons" in r.data else DEFAULT_RATING.reasons,
                  window_min=window, timeout_s=timeout)


def _ranges_clash(a: NumberFormat, b: NumberFormat) -> bool:
    if a.prefix != b.prefix:
        return False
    return a.first <= b.last and b.first <= a.last


def _unique(values: list[Any], key: str, what: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise ConfigError(key, f"{what} {v!r} appears twice")
        seen.add(v)


def load_config(path: str | Path) -> Config:
    """Read and validate a config file; raises ConfigError naming the key and the problem."""
    return parse_config(read_toml(path), str(Path(path).resolve()))


def read_toml(path: str | Path) -> dict[str, Any]:
    """A config file's TOML as data (a node's local file, or a center's for its manifest)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(str(p), "file not found") from None
    except UnicodeDecodeError:
        raise ConfigError(str(p), "is not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(p), f"is not valid TOML: {e}") from None
    return data
