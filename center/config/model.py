"""What a center is, as config.toml describes it: its sites, services, counters, devices and rules, as frozen
dataclasses (read and validated by center/config/read.py; nothing else builds them from the file)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from printer_drivers.printer import Printer  # one definition, shared with the print agent

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Procedure:
    code: str
    name: str
    name_en: str
    field: str
    mean_min: float


@dataclass(frozen=True)
class NumberFormat:
    """Either a letter prefix with zero-padded digits (A001) or a numeric series (1001–1999).

    Both wrap around when the range is used up; the stored sequence keeps growing, so a wrapped
    number is a new ticket, never a re-issued one.
    """

    prefix: str = ""
    digits: int = 3
    first: int = 1
    last: int = 999

    def size(self) -> int:
        return self.last - self.first + 1

    def format(self, seq: int) -> str:
        """The printed number for the `seq`-th ticket of a service day (seq starts at 1)."""
        value = self.first + (seq - 1) % self.size()
        return f"{self.prefix}{value:0{self.digits}d}"


@dataclass(frozen=True)
class Service:
    code: str
    name: str
    name_en: str
    icon: str
    number: NumberFormat
    target_wait_min: float
    daily_cap: int | None
    allow_priority: bool
    default_service_min: float
    procedures: tuple[Procedure, ...]

    def procedure(self, code: str) -> Procedure | None:
        return next((p for p in self.procedures if p.code == code), None)


@dataclass(frozen=True)
class Counter:
    id: str
    site: str
    number: int
    name: str
    services: tuple[str, ...]  # in order of preference


@dataclass(frozen=True)
class Kiosk:
    id: str
    site: str
    name: str
    printer: Printer
    voice: bool = False  # spoken guidance on this kiosk (see docs/kiosk.md: off unless the center asks)


@dataclass(frozen=True)
class Display:
    id: str
    site: str
    name: str
    counters: tuple[str, ...]  # empty: all counters of the site
    services: tuple[str, ...]  # empty: all services of the site


@dataclass(frozen=True)
class Site:
    code: str
    name: str
    name_en: str
    address: str
    services: tuple[str, ...]
    numbering: dict[str, NumberFormat]
    hours: dict[str, tuple[tuple[time, time | None], ...]]  # weekday -> intervals; None end = 24:00
    closed_dates: tuple[str, ...]
    numbering_starts_at: time
    stop_issuing_before_close_min: int
    counters: tuple[Counter, ...]
    kiosks: tuple[Kiosk, ...]
    displays: tuple[Display, ...]


# Pictograms shipped with the kiosk (kiosk/static/kiosk/icons/<name>.svg), so that a citizen who cannot
# read finds the service and the priority group by picture.
SERVICE_ICONS = ("certify", "civil", "residence", "land", "business", "social", "results", "online", "generic")
GROUP_ICONS = ("elderly", "pregnant", "disabled", "children", "merit", "priority")


@dataclass(frozen=True)
class PriorityGroup:
    code: str
    name: str
    name_en: str
    icon: str = "priority"  # one of GROUP_ICONS; by default the group's code when it names one


@dataclass(frozen=True)
class QueueRules:
    priority_policy: str  # "strict" or "interleaved"
    interleave_every: int  # interleaved: one priority call after every N normal calls
    aging_min: float  # a ticket waiting longer than this counts as priority (no one waits forever)
    transfer_keeps_place: bool
    # A no-show this soon after the call asks the clerk to confirm (a stray V key); 0: never asks.
    no_show_confirm_s: float = 20


@dataclass(frozen=True)
class Voice:
    template: str
    template_en: str
    read_digits: bool
    repeat: int
    rate: float
    english: bool
    southern: bool = False  # zero_tens = "lẻ": 105 "một trăm lẻ năm" (the southern reading) instead of "linh"


ZERO_TENS = {"linh": False, "lẻ": True}


@dataclass(frozen=True)
class Security:
    """[security]: what the server trusts about the network in front of it (center/web/clients.py)."""

    allowed_origins: tuple[str, ...] = ()  # besides the app's own: origins whose pages may use a staff cookie
    trusted_proxies: tuple[str, ...] = ("127.0.0.1", "::1")  # whose X-Real-IP / X-Forwarded-For is believed
    anonymous_sockets_per_address: int = 50  # open anonymous Socket.IO connections per client address


RATING_FACES = ("very_happy", "happy", "neutral", "unhappy", "very_unhappy")
SATISFIED_FACES = ("very_happy", "happy")


@dataclass(frozen=True)
class RatingLevel:
    code: str
    name: str
    name_en: str
    face: str
    ask_reasons: bool

    @property
    def satisfied(self) -> bool:
        return self.face in SATISFIED_FACES


@dataclass(frozen=True)
class RatingReason:
    code: str
    name: str
    name_en: str


@dataclass(frozen=True)
class Rating:
    """[rating]: the rating pad's answers, best first, and the reasons an unhappy answer may give
    (center/queue/ratings.py stores them; reports count the `satisfied` levels)."""

    levels: tuple[RatingLevel, ...]
    reasons: tuple[RatingReason, ...]
    window_min: float  # how long after a finish the pad may ask
    timeout_s: int  # the pad goes back to idle after this long without an answer

    def level(self, code: Any) -> RatingLevel | None:
        return next((lv for lv in self.levels if lv.code == code), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "levels": [{"code": lv.code, "name": lv.name, "name_en": lv.name_en, "face": lv.face,
                        "ask_reasons": lv.ask_reasons, "satisfied": lv.satisfied} for lv in self.levels],
            "reasons": [{"code": r.code, "name": r.name, "name_en": r.name_en} for r in self.reasons],
            "window_min": self.window_min,
            "timeout_s": self.timeout_s,
        }


DEFAULT_RATING = Rating(
    levels=(RatingLevel("very_satisfied", "Rất hài lòng", "Very satisfied", "very_happy", False),
            RatingLevel("satisfied", "Hài lòng", "Satisfied", "happy", False),
            RatingLevel("unsatisfied", "Không hài lòng", "Not satisfied", "unhappy", True)),
    reasons=(RatingReason("wait_long", "Thời gian chờ lâu", "Long wait"),
             RatingReason("slow", "Giải quyết chậm", "Slow processing"),
             RatingReason("unclear", "Hướng dẫn chưa rõ ràng", "Unclear guidance"),
             RatingReason("attitude", "Thái độ phục vụ chưa tốt", "Unfriendly service"),
             RatingReason("extra_papers", "Yêu cầu thêm giấy tờ", "Asked for extra papers"),
             RatingReason("facilities", "Cơ sở vật chất chưa tốt", "Poor facilities")),
    window_min=5.0, timeout_s=60)


# A node's records have ids in [block * BLOCK_SIZE, (block + 1) * BLOCK_SIZE); the center's own are below it.
BLOCK_SIZE = 10**12


@dataclass(frozen=True)
class Upstream:
    """[upstream]: this server is a node (a second reception point, a mobile team's laptop) of the center at
    `url`, known there as `node`. Everything else (its sites, services, accounts, its id block) comes from the
    center's manifest (center/sync/manifest.py)."""

    url: str
    node: str
    token_file: str = ""  # where the node token is kept (default: beside the database)
    ca_file: str = ""  # the certificate authority of the center's https address, if not a public one


@dataclass(frozen=True)
class Node:
    """[[nodes]] at a center: a place that runs on its own and pushes the records of `sites` here."""

    id: str
    name: str
    block: int
    sites: tuple[str, ...]

    def owns_id(self, value: object) -> bool:
        return isinstance(value, int) and self.block * BLOCK_SIZE <= value < (self.block + 1) * BLOCK_SIZE


@dataclass(frozen=True)
class Booking:
    """[booking] (center/config/booking.py): time slots citizens may book, and how bookings share the counters
    with walk-ins (center/queue/bookings.py, the fair merge of center/queue/policy.py)."""

    enabled: bool = False
    slot_min: int = 30  # length of a slot
    share: float = 0.3  # share of a slot's capacity open to bookings
    per_person_per_day: int = 2  # bookings per phone number and day
    grace_min: int = 15  # later than this after the slot start: the citizen joins as a walk-in
    early_min: int = 120  # check-in accepted from this long before the slot start
    days_ahead: int = 14  # how far ahead a slot may be booked
    max_booked_share: float = 0.5  # bookings take at most this share of a counter's recent calls…
    walkin_wait_min: float = 20  # …while a walk-in it serves has waited longer than this
    # A checked-in booking queues this long before its slot's start: on a busy service it is then called soon after
    # its slot instead of waiting like a walk-in who came at that time (BENCHMARKS.md, "Bookings in a busy day").
    lead_min: int = 25  # below [queue] aging_min (30): at check-in the cap on booked calls still applies
    capacity: dict[str, int] = field(default_factory=dict)  # service -> people per slot, overriding the formula
    # A slot where walk-ins usually wait longer than busy_wait_min (measured over the last busy_days days at that
    # time of day) opens fewer places, none from twice that (center/queue/bookings.py `busy_factor`); 0 = off.
    busy_wait_min: float = 30
    busy_days: int = 28

    def as_dict(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "slot_min": self.slot_min, "share": self.share,
                "per_person_per_day": self.per_person_per_day, "grace_min": self.grace_min,
                "early_min": self.early_min, "days_ahead": self.days_ahead,
                "max_booked_share": self.max_booked_share, "walkin_wait_min": self.walkin_wait_min,
                "lead_min": self.lead_min, "capacity": dict(self.capacity), "busy_wait_min": self.busy_wait_min,
                "busy_days": self.busy_days}


@dataclass(frozen=True)
class Config:
    center_name: str
    center_name_en: str
    timezone: str
    ticket_footer: str
    rules: QueueRules
    voice: Voice
    priority_groups: tuple[PriorityGroup, ...]
    services: dict[str, Service]
    sites: dict[str, Site]
    source_path: str = ""
    security: Security = Security()
    rating: Rating = DEFAULT_RATING
    upstream: Upstream | None = None
    hub: Upstream | None = None  # [hub] at a center: the province hub its records (and its nodes') go to
    booking: Booking = Booking()

    @property
    def outbound(self) -> Upstream | None:
        """Where this server's records go: its center (a node) or the province hub (a center), or nowhere."""
        return self.upstream or self.hub
    nodes: tuple[Node, ...] = ()

    def node(self, node_id: str) -> Node | None:
        return next((n for n in self.nodes if n.id == node_id), None)

    def node_of_site(self, site: str) -> Node | None:
        """The node that serves `site` (its records arrive by sync), or None for a site served here."""
        return next((n for n in self.nodes if site in n.sites), None)

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def counter(self, counter_id: str) -> Counter | None:
        for site in self.sites.values():
            for c in site.counters:
                if c.id == counter_id:
                    return c
        return None

    def kiosk(self, kiosk_id: str) -> Kiosk | None:
        for site in self.sites.values():
            for k in site.kiosks:
                if k.id == kiosk_id:
                    return k
        return None

    def devices(self) -> dict[str, tuple[str, str]]:
        """Every kiosk and display → (role, site): the only devices a token may be made for (one for a device the
        center does not have opens no screen; one for the wrong site issues tickets at the wrong place)."""
        out = {k.id: ("kiosk", s.code) for s in self.sites.values() for k in s.kiosks}
        out.update({d.id: ("display", s.code) for s in self.sites.values() for d in s.displays})
        return out

    def display(self, display_id: str) -> Display | None:
        for site in self.sites.values():
            for d in site.displays:
                if d.id == display_id:
                    return d
        return None

    def priority_group(self, code: str) -> PriorityGroup | None:
        return next((g for g in self.priority_groups if g.code == code), None)

    def number_format(self, site: str, service: str) -> NumberFormat:
        return self.sites[site].numbering.get(service) or self.services[service].number
