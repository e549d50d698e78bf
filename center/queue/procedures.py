"""The procedures of a finished ticket: the list a counter sends, checked against its service, and each
procedure's own start and end within the service."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from ..config.model import Service
from ..errors import Invalid


def parse_procedures(items: list[Any], service: Service) -> list[tuple[str, float | None]]:
    out: list[tuple[str, float | None]] = []
    for i, item in enumerate(items):
        seconds = None
        if isinstance(item, dict):
            code = item.get("code")
            seconds = item.get("seconds")
            if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int | float)
                                        or not 0 <= seconds <= 86400):
                raise Invalid("Thời gian thủ tục không hợp lệ", f"procedures[{i}].seconds must be 0–86400",
                              code="bad_procedure")
        else:
            code = item
        if not isinstance(code, str) or service.procedure(code) is None:
            raise Invalid(f"Thủ tục '{code}' không thuộc dịch vụ {service.name}",
                          f"Procedure '{code}' is not part of {service.name_en}", code="unknown_procedure")
        out.append((code, float(seconds) if seconds is not None else None))
    return out


def time_procedures(items: list[tuple[str, float | None]], marks: list[tuple[str, datetime]],
                    started: datetime, now: datetime) -> list[tuple[str, datetime, datetime]]:
    """Give each procedure a start and end within [started, now].

    Explicit seconds win; then the times between marks; the rest share the remaining time equally.
    """
    out: list[tuple[str, datetime, datetime]] = []
    cursor = started
    pending: list[str] = []
    marked = {code: at for code, at in marks}
    explicit = [(c, s) for c, s in items if s is not None]
    if explicit and len(explicit) == len(items):
        for code, seconds in explicit:
            end = cursor + timedelta(seconds=seconds)
            out.append((code, cursor, end))
            cursor = end
        return out
    for code, _ in sorted(items, key=lambda it: marked.get(it[0], now + timedelta(days=1))):
        at = marked.get(code)
        if at is not None and cursor <= at <= now:
            out.append((code, cursor, at))
            cursor = at
        else:
            pending.append(code)
    if pending:
        share = (now - cursor) / len(pending)
        for code in pending:
            out.append((code, cursor, cursor + share))
            cursor = cursor + share
    return out
