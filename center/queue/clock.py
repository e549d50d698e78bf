"""Time at the edges: store UTC, reason in the center's local time.

Numbering restarts at the site's configured local time, never at UTC midnight (a queue that resets
at UTC midnight issues "yesterday's" numbers at 7 in the morning in Vietnam). The clock is injectable
so that tests and the day simulation can move time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..config.model import WEEKDAYS, Site

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


def scaled_clock(start: datetime, scale: float) -> Clock:
    """A clock that starts at `start` and runs `scale` times faster than real time.

    Only for the day simulation (`make bench`): a whole ward day in minutes, with every rule that
    depends on the time of day (opening hours, day rollover, waits) behaving as on a real day.
    """
    import time

    origin = time.monotonic()

    def now() -> datetime:
        return start + timedelta(seconds=(time.monotonic() - origin) * scale)

    return now


def to_iso(moment: datetime) -> str:
    """UTC timestamp as stored: ISO 8601 with milliseconds and a Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def from_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


WEEKDAYS_VI = ("thứ Hai", "thứ Ba", "thứ Tư", "thứ Năm", "thứ Sáu", "thứ Bảy", "Chủ nhật")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def vn_date(day: date | datetime | str, *, weekday: bool = False, lang: str = "vi",
            tz: ZoneInfo | None = None) -> str:
    """A date as Vietnamese text writes it, on every screen, ticket, export heading and message: 07/12/2026, or
    with `weekday` "thứ Hai, 07/12/2026" ("Mon 07/12/2026" in English). ISO stays in the API and the database.
    A datetime is shown in `tz` (the center's zone) when given; a string is an ISO day or time."""
    if isinstance(day, str):
        day = from_iso(day) if "T" in day else date.fromisoformat(day)
    if isinstance(day, datetime):
        day = (day.astimezone(tz) if tz is not None else day).date()
    text = f"{day.day:02d}/{day.month:02d}/{day.year}"
    if not weekday:
        return text
    return f"{WEEKDAYS_EN[day.weekday()]} {text}" if lang == "en" else f"{WEEKDAYS_VI[day.weekday()]}, {text}"


def vn_datetime(moment: datetime | str, tz: ZoneInfo, *, seconds: bool = False) -> str:
    """A moment in the center's zone, 24-hour, Vietnamese date order: "22:30 07/12/2026"."""
    if isinstance(moment, str):
        moment = from_iso(moment)
    local = moment.astimezone(tz)
    return local.strftime("%H:%M:%S" if seconds else "%H:%M") + " " + vn_date(local)


def service_day(moment: datetime, site: Site, tz: ZoneInfo) -> str:
    """The local service day a moment belongs to; the day begins at `numbering_starts_at`."""
    local = moment.astimezone(tz)
    start = site.numbering_starts_at
    shifted = local - timedelta(hours=start.hour, minutes=start.minute)
    return shifted.date().isoformat()


@dataclass(frozen=True)
class OpeningState:
    """Whether a site issues tickets now, and why not when it does not."""

    open: bool
    issuing: bool
    reason: str  # "open", "closed", "closing_soon", "holiday"
    closes_at: datetime | None  # end of the current interval (local), when open
    next_open: datetime | None  # start of the next interval (local), when closed or closing soon


def _intervals(site: Site, day: date) -> list[tuple[datetime, datetime]]:
    """Opening intervals of one local date as naive local datetimes."""
    if day.isoformat() in site.closed_dates:
        return []
    out = []
    for start, end in site.hours[WEEKDAYS[day.weekday()]]:
        s = datetime.combine(day, start)
        e = datetime.combine(day + timedelta(days=1), time(0)) if end is None else datetime.combine(day, end)
        out.append((s, e))
    return out


# (site, local date, spans) by id(site): the site object is kept, so its id cannot be reused meanwhile.
_spans_cache: dict[int, tuple[Site, date, list[list[datetime]]]] = {}


def _spans(site: Site, today: date) -> list[list[datetime]]:
    """Opening spans from yesterday to 8 days ahead, touching intervals merged (e.g. 00:00-24:00 every day)
    so that "closes at" is the real close. Built once per site and local date: every ticket issued asks."""
    cached = _spans_cache.get(id(site))
    if cached is not None and cached[0] is site and cached[1] == today:
        return cached[2]
    spans: list[list[datetime]] = []
    for d in range(-1, 9):
        for s, e in _intervals(site, today + timedelta(days=d)):
            if spans and spans[-1][1] >= s:
                spans[-1][1] = max(spans[-1][1], e)
            else:
                spans.append([s, e])
    if len(_spans_cache) > 64:  # configs reloaded many times (tests)
        _spans_cache.clear()
    _spans_cache[id(site)] = (site, today, spans)
    return spans


def opening_state(moment: datetime, site: Site, tz: ZoneInfo) -> OpeningState:
    local = moment.astimezone(tz).replace(tzinfo=None)
    today = local.date()
    spans = _spans(site, today)
    holiday = today.isoformat() in site.closed_dates
    for s, e in spans:
        if s <= local < e:
            stop = e - timedelta(minutes=site.stop_issuing_before_close_min)
            later = next((x for x, _ in spans if x >= e), None)
            if local >= stop:
                return OpeningState(True, False, "closing_soon", _aware(e, tz), _aware(later, tz))
            return OpeningState(True, True, "open", _aware(e, tz), None)
    upcoming = next((s for s, _ in spans if s > local), None)
    return OpeningState(False, False, "holiday" if holiday else "closed", None, _aware(upcoming, tz))


def _aware(naive: datetime | None, tz: ZoneInfo) -> datetime | None:
    return None if naive is None else naive.replace(tzinfo=tz)
