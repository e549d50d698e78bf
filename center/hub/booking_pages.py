"""The public booking page (/dat-lich, no account, phone-sized, Vietnamese first) and the booking API for the
province's other systems (/hub/api/bookings, a system's bearer token), registered on the hub app.

The page works without JavaScript: each step is a plain GET (place → service → day → slot) and the booking a
POST with the session's CSRF token; the confirmation follows a redirect (a reload books nothing twice). Every
request of the page and the API counts against its client address's minute (`booking.rate_ok`).
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, date, datetime
from typing import Any

import segno
from flask import Blueprint, Flask, jsonify, redirect, render_template, request, session, url_for
from markupsafe import Markup

from ..config.model import Security
from ..errors import Invalid, QueueError, Unauthorized
from ..queue.clock import vn_date
from ..web.auth import hash_token
from ..web.clients import client_address
from . import accounts, booking
from .accounts import hub_cfg
from .booking_schema import pepper
from .names import center_names
from .pages import _tr, lang

bp = Blueprint("hub_booking", __name__)
PAGE_PER_MIN = int(os.environ.get("XEPHANG_HUB_BOOK_PAGES_PER_MIN", "240"))
POSTS_PER_MIN = int(os.environ.get("XEPHANG_HUB_BOOK_POSTS_PER_MIN", "20"))
API_PER_MIN = int(os.environ.get("XEPHANG_HUB_API_PER_MIN", "600"))


def _client() -> str:
    """The citizen's address: behind the province's nginx (a trusted proxy), the one it reports."""
    return client_address(request.environ, Security(trusted_proxies=hub_cfg().trusted_proxies)) or "?"


def _connection() -> Any:
    from .app import connection

    return connection()


def _now() -> datetime:
    return datetime.now(UTC)


def create_api_token(conn: Any, name: str, now: datetime) -> str:
    """A system's token (shown once; only its SHA-256 is kept); the name's old token stops working."""
    name = (name or "").strip()
    if not name or len(name) > 64:
        raise Invalid("Tên hệ thống không hợp lệ", "Invalid system name", code="bad_name")
    token = "xs_" + secrets.token_urlsafe(32)
    with conn.transaction():
        conn.execute("INSERT INTO hub_api_tokens (name, token_hash, created_at) VALUES (%s, %s, %s) ON CONFLICT "
                     "(name) DO UPDATE SET token_hash = excluded.token_hash, created_at = excluded.created_at",
                     (name, hash_token(token), now))
    return token


def _system(conn: Any) -> str:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    row = conn.execute("SELECT name FROM hub_api_tokens WHERE token_hash = %s",
                       (hash_token(token),)).fetchone() if token.startswith("xs_") else None
    if row is None:
        raise Unauthorized("Cần mã truy cập của hệ thống", "A system's bearer token is required",
                           code="unauthorized")
    return str(row[0])


# ------------------------------------------------------------------------------------------------ the page


def _day_label(d: date) -> str:
    """"thứ Hai, 07/12/2026": the day a citizen books, as every screen writes a date."""
    return vn_date(d, weekday=True, lang=lang())


def _named(conn: Any, places: list[booking.Place]) -> list[booking.Place]:
    """The places under their centers' names by the hub's one rule (center/hub/names.py): two centers that send
    the same name are told apart, so a citizen is never sent to the wrong center."""
    names = center_names(conn, hub_cfg().centers, lang() == "en")
    for p in places:
        p.center_name = names.get(p.center, p.center_name)
    return places


def _named_booking(conn: Any, b: dict[str, Any], en: bool = False) -> dict[str, Any]:
    """A booking (page or API) naming its center by the same rule as the page's list."""
    b["center_name"] = center_names(conn, hub_cfg().centers, en).get(b["center"], b["center_name"])
    return b


def _spaced(code: str) -> str:
    return f"{code[:3]} {code[3:]}"


def _qr(code: str) -> Markup:
    svg = segno.make(code, error="m").svg_inline(scale=8, border=4, light="#fff",
                                                 title=_tr("Mã QR của lịch hẹn", "Booking QR code"))
    return Markup(svg)  # noqa: S704 - segno's own SVG of a code from ALPHABET


def _render(template: str, status: int = 200, **kw: Any) -> Any:
    return render_template(template, tr=_tr, lang=lang(), hub=hub_cfg(), csrf=accounts.csrf_token(),
                           day_label=_day_label, **kw), status


def _step(conn: Any, error: str | None = None, status: int = 200) -> Any:
    """The page at the step its query (or form) reaches: place, service, day, then the slots and the form."""
    args = request.values
    en = lang() == "en"
    now = _now()
    key, service, day = args.get("place", ""), args.get("service", ""), args.get("day", "")
    if not key:
        return _render("hub/book.html", status, step="place", places=_named(conn, booking.places(conn, hub_cfg(), en)),
                       error=error)
    p = _named(conn, [booking.place(conn, hub_cfg(), key, en)])[0]
    if service not in p.services:
        return _render("hub/book.html", status, step="service", p=p, error=error)
    days = p.days(now)
    try:
        chosen = date.fromisoformat(day) if day else None
    except ValueError:
        chosen = None
    if chosen not in days:
        return _render("hub/book.html", status, step="day", p=p, service=service, days=days, error=error)
    return _render("hub/book.html", status, step="slot", p=p, service=service, day=chosen,
                   slots=booking.slots(conn, p, service, chosen, now), form=args, error=error)


@bp.get("/dat-lich")
def book_page() -> Any:
    with _connection() as conn:
        try:
            return _step(conn)
        except QueueError as e:
            return _render("hub/book.html", e.status, step="place",
                           places=_named(conn, booking.places(conn, hub_cfg(), lang() == "en")), error=_msg(e))


def _msg(e: QueueError) -> str:
    return e.message_en if lang() == "en" else e.message


@bp.post("/dat-lich")
def book_post() -> Any:
    accounts.check_csrf()
    f = request.form
    with _connection() as conn:
        try:
            got = booking.create(conn, hub_cfg(), pepper(hub_cfg()), place_key=f.get("place", ""),
                                 service=f.get("service", ""), slot_at=f.get("slot_at", ""),
                                 name=f.get("name", "")[:200], phone=f.get("phone", "")[:40], channel="page",
                                 now=_now())
        except QueueError as e:
            return _step(conn, _msg(e), e.status)
    session["booked"] = got["code"]
    return redirect(url_for("hub_booking.book_done"))


@bp.get("/dat-lich/xong")
def book_done() -> Any:
    """The confirmation, shown to the session that booked (a code is not listed for anyone else)."""
    code = session.get("booked")
    if not isinstance(code, str):
        return redirect(url_for("hub_booking.book_page"))
    with _connection() as conn:
        b = _named_booking(conn, booking.lookup(conn, hub_cfg(), code, lang() == "en"), lang() == "en")
    return _render("hub/book_done.html", b=b, spaced=_spaced(b["code"]), qr=_qr(b["code"]))


@bp.route("/dat-lich/huy", methods=["GET", "POST"])
def cancel_page() -> Any:
    done, error, status = None, None, 200
    if request.method == "POST":
        accounts.check_csrf()
        with _connection() as conn:
            try:
                hashed = booking.phone_hash(pepper(hub_cfg()), request.form.get("phone", "")[:40])
                done = booking.cancel(conn, hub_cfg(), request.form.get("code", ""), phone_hashed=hashed, now=_now())
            except QueueError as e:
                error, status = _msg(e), e.status
    return _render("hub/book_cancel.html", status, done=done, error=error, form=request.form)


# ------------------------------------------------------------------------------------------------- the API


def _json() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise Invalid("Cần một đối tượng JSON", "A JSON object is required", code="bad_json")
    return body


@bp.post("/hub/api/bookings")
def api_create() -> Any:
    body = _json()
    with _connection() as conn:
        _system(conn)
        site = body.get("site")
        if not site:
            c = hub_cfg().center(str(body.get("center") or ""))
            site = c.sites[0] if c and len(c.sites) == 1 else ""
        got = booking.create(conn, hub_cfg(), pepper(hub_cfg()), place_key=f"{body.get('center')}:{site}",
                             service=str(body.get("service") or ""), slot_at=str(body.get("slot_at") or ""),
                             name=str(body.get("name") or ""), phone=str(body.get("phone") or ""), channel="api",
                             now=_now())
        got = _named_booking(conn, got)
    return jsonify(got), 201


@bp.get("/hub/api/bookings/<code>")
def api_lookup(code: str) -> Any:
    with _connection() as conn:
        _system(conn)
        return jsonify(_named_booking(conn, booking.lookup(conn, hub_cfg(), code)))


@bp.post("/hub/api/bookings/<code>/cancel")
def api_cancel(code: str) -> Any:
    with _connection() as conn:
        _system(conn)
        return jsonify(_named_booking(conn, booking.cancel(conn, hub_cfg(), code, phone_hashed=None, now=_now())))


@bp.get("/hub/api/booking-slots")
def api_slots() -> Any:
    """The places left per slot of a center's site, service and day (what the page shows)."""
    a = request.args
    with _connection() as conn:
        _system(conn)
        p = booking.place(conn, hub_cfg(), f"{a.get('center')}:{a.get('site')}")
        try:
            day = date.fromisoformat(a.get("day", ""))
        except ValueError:
            raise Invalid("Ngày không hợp lệ (YYYY-MM-DD)", "day must be YYYY-MM-DD", code="bad_date") from None
        if a.get("service") not in p.services:
            raise Invalid("Dịch vụ này không nhận đặt lịch tại đây", "This service takes no bookings here",
                          code="unknown_service")
        return jsonify({"center": p.center, "site": p.site, "service": a["service"], "day": day.isoformat(),
                        "slots": booking.slots(conn, p, a["service"], day, _now())})


@bp.get("/hub/api/openapi.json")
def openapi() -> Any:
    from .booking_openapi import document

    return jsonify(document(request.host_url.rstrip("/")))


def register(app: Flask) -> None:
    """Routes, rate limit and security headers of the booking page and API (after center/hub/pages.py)."""
    app.register_blueprint(bp)

    @app.before_request
    def rate_limit() -> Any:
        path = request.path
        if not (path.startswith("/dat-lich") or path.startswith("/hub/api/booking")):
            return None
        kind, limit = (("api", API_PER_MIN) if path.startswith("/hub/api") else
                       ("post", POSTS_PER_MIN) if request.method == "POST" else ("page", PAGE_PER_MIN))
        with _connection() as conn:
            ok = booking.rate_ok(conn, _client(), kind, limit)
        if ok:
            return None
        e = QueueError("Quá nhiều yêu cầu; vui lòng thử lại sau một phút", "Too many requests; try again in a minute",
                       code="rate_limited", status=429)
        if kind == "api":
            return jsonify(e.to_dict()), 429
        return _render("hub/book.html", 429, step="none", error=_msg(e))

