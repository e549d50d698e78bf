"""The JSON API under /api. Thin: check the caller, read the body, call the engine, shape the answer."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..errors import Invalid, NotFound
from ..queue import availability
from ..queue.actors import PAUSE_REASONS
from ..queue.clock import to_iso
from .request import bearer_token, center, current_actor, field, json_body, require, text_field

bp = Blueprint("api", __name__, url_prefix="/api")


def _site_arg() -> str:
    site = request.args.get("site")
    if not site:
        raise Invalid("Thiếu tham số site", "Query parameter 'site' is required", code="missing_field", field="site")
    center().engine.site(site)
    return site


def _ticket_ref(data: dict[str, Any]) -> int | None:
    """The ticket the caller believes is current (optional): a stale screen is refused, not obeyed."""
    return field(data, "ticket", int)


@bp.get("/health")
def health() -> Any:
    c = center()
    with c.store.connection() as conn:
        conn.execute("SELECT 1").fetchone()
        version = conn.execute("PRAGMA user_version").fetchone()[0]
    return jsonify({"status": "ok", "schema_version": version, "sites": list(c.config.sites)})


def _service_json(code: str) -> dict[str, Any]:
    sv = center().config.services[code]
    return {
        "code": sv.code, "name": sv.name, "name_en": sv.name_en, "icon": sv.icon,
        "target_wait_min": sv.target_wait_min, "daily_cap": sv.daily_cap, "allow_priority": sv.allow_priority,
        "procedures": [{"code": p.code, "name": p.name, "name_en": p.name_en, "field": p.field}
                       for p in sv.procedures],
    }


def _site_json(code: str) -> dict[str, Any]:
    c = center()
    site = c.config.sites[code]
    return {
        "code": site.code, "name": site.name, "name_en": site.name_en, "address": site.address,
        "center_name": c.config.center_name, "center_name_en": c.config.center_name_en,
        "services": [_service_json(s) for s in site.services],
        "counters": [{"id": ct.id, "number": ct.number, "name": ct.name,
                      "services": list(c.engine.counter_services(ct))} for ct in site.counters],
        "kiosks": [{"id": k.id, "name": k.name} for k in site.kiosks],
        "displays": [{"id": d.id, "name": d.name, "counters": list(d.counters), "services": list(d.services)}
                     for d in site.displays],
    }


@bp.get("/sites")
def sites() -> Any:
    c = center()
    return jsonify({
        "center": {"name": c.config.center_name, "name_en": c.config.center_name_en,
                   "timezone": c.config.timezone},
        "priority_groups": [{"code": g.code, "name": g.name, "name_en": g.name_en} for g in c.config.priority_groups],
        "sites": [_site_json(code) for code in c.config.sites],
    })


@bp.get("/services")
def services() -> Any:
    site = _site_arg()
    return jsonify({"site": site, "services": [_service_json(s) for s in center().config.sites[site].services]})


@bp.get("/queue")
def queue() -> Any:
    site = _site_arg()
    actor = current_actor()
    from .auth import allowed

    return jsonify(center().engine.queue_state(site, private=allowed(actor, "queue.detail")))


@bp.post("/tickets")
def issue_ticket() -> Any:
    actor = require("ticket.issue")
    data = json_body()
    site = field(data, "site", str, required=True)
    require("ticket.issue", site=site)
    service = field(data, "service", str, required=True)
    priority = field(data, "priority", str)
    kiosk = actor.name if actor.role == "kiosk" else None
    source = "kiosk" if kiosk else "api"
    # Provenance is who calls, never what the body says: per-source statistics must not be skewed by a claim.
    for name, derived in (("source", source), ("kiosk", kiosk)):
        if name in data and data[name] != derived:
            raise Invalid(f"Trường '{name}' do máy chủ xác định theo người gọi, không gửi lên",
                          f"'{name}' is set by the server from the caller ({derived or 'none'}); do not send it",
                          code="provenance_from_caller", field=name)
    ticket = center().engine.issue(site, service, priority=priority or None, source=source, actor=actor,
                                   kiosk=kiosk, request_id=field(data, "request_id", str))
    from ..output.printing import public_url

    ticket["public_url"] = public_url(center(), ticket["public_id"], request.host_url)
    return jsonify(ticket), 201


@bp.get("/tickets/<int:ticket_id>")
def get_ticket(ticket_id: int) -> Any:
    actor = require("ticket.read")
    ticket = center().engine.get_ticket(ticket_id, private=actor.role != "kiosk")
    if actor.site and ticket["site"] != actor.site:
        raise NotFound(f"Không có số thứ tự mã {ticket_id}", f"No ticket with id {ticket_id}", code="unknown_ticket")
    return jsonify(ticket)


@bp.post("/tickets/<int:ticket_id>/left")
def ticket_left(ticket_id: int) -> Any:
    actor = require("counter.operate")
    data = json_body()
    return jsonify(center().engine.mark_left(ticket_id, actor, text_field(data, "note")))


@bp.get("/public/tickets/<public_id>")
def public_ticket(public_id: str) -> Any:
    """For the citizen's phone: the link printed as a QR code is the only key."""
    if len(public_id) > 64:
        raise NotFound("Không tìm thấy số thứ tự", "Ticket not found", code="unknown_ticket")
    c = center()
    ticket = c.engine.get_ticket_by_public_id(public_id)
    if ticket["status"] == "waiting":  # no estimate while no counter serves it: say why, as the kiosk does
        note = availability.for_service(c.engine, ticket["site"], ticket["service"])
        ticket["counter_note"] = note.get("counter_note", "")
        ticket["counter_note_en"] = note.get("counter_note_en", "")
    return jsonify(ticket)


@bp.get("/counters/<counter_id>")
def counter_state(counter_id: str) -> Any:
    actor = require("counter.operate")
    c = center()
    counter = c.engine.counter(counter_id)
    with c.store.read() as conn:
        view = c.engine.counter_view(conn, counter, private=True)
    view["you"] = actor.name
    return jsonify(view)


@bp.post("/counters/<counter_id>/take")
def counter_take(counter_id: str) -> Any:
    return jsonify(center().engine.take_counter(counter_id, require("counter.operate")))


@bp.post("/counters/<counter_id>/release")
def counter_release(counter_id: str) -> Any:
    actor = require("counter.operate")
    data = json_body()
    force = bool(field(data, "force", bool, default=False)) and actor.role in ("admin", "manager")
    citizen = field(data, "citizen", str, default="requeue")
    return jsonify(center().engine.release_counter(counter_id, actor, force=force, citizen=citizen))


@bp.post("/counters/<counter_id>/call-next")
def counter_call_next(counter_id: str) -> Any:
    ticket = center().engine.call_next(counter_id, require("counter.operate"))
    if ticket is None:
        return Response(status=204)
    return jsonify(ticket)


@bp.post("/counters/<counter_id>/call")
def counter_call(counter_id: str) -> Any:
    actor = require("counter.operate")
    data = json_body()
    ticket_id = field(data, "ticket", int)
    number = field(data, "number", str)
    if ticket_id is None and not number:
        raise Invalid("Cần nhập số thứ tự", "Give 'ticket' (id) or 'number'", code="missing_field", field="number")
    return jsonify(center().engine.call_ticket(counter_id, actor, ticket_id=ticket_id, number=number))


@bp.post("/counters/<counter_id>/recall")
def counter_recall(counter_id: str) -> Any:
    actor = require("counter.operate")
    return jsonify(center().engine.recall(counter_id, actor, expect=_ticket_ref(json_body())))


@bp.post("/counters/<counter_id>/no-show")
def counter_no_show(counter_id: str) -> Any:
    actor = require("counter.operate")
    data = json_body()
    return jsonify(center().engine.no_show(counter_id, actor, expect=_ticket_ref(data),
                                           confirmed=bool(field(data, "confirmed", bool, default=False))))


@bp.post("/counters/<counter_id>/start")
def counter_start(counter_id: str) -> Any:
    actor = require("counter.operate")
    return jsonify(center().engine.start(counter_id, actor, expect=_ticket_ref(json_body())))


@bp.post("/counters/<counter_id>/procedure")
def counter_procedure(counter_id: str) -> Any:
    actor = require("counter.operate")
    data = json_body()
    code = field(data, "procedure", str, required=True)
    return jsonify(center().engine.mark_procedure(counter_id, actor, code, expect=_ticket_ref(data)))


@bp.post("/counters/<counter_id>/finish")
def counter_finish(counter_id: str) -> Any:
    actor = require("counter.operate")
    data = json_body()
    procedures = field(data, "procedures", list, required=True)
    return jsonify(center().engine.finish(counter_id, actor, procedures, expect=_ticket_ref(data)))


@bp.post("/counters/<counter_id>/transfer")
def counter_transfer(counter_id: str) -> Any:
    actor = require("counter.operate")
    data = json_body()
    return jsonify(center().engine.transfer(
        counter_id, actor, service=field(data, "service", str), to_counter=field(data, "counter", str),
        keep_place=field(data, "keep_place", bool), note=text_field(data, "note"), expect=_ticket_ref(data)))


@bp.post("/counters/<counter_id>/pause")
def counter_pause(counter_id: str) -> Any:
    actor = require("counter.operate")
    data = json_body()
    reason = field(data, "reason", str, default="break")
    if reason not in PAUSE_REASONS:
        raise Invalid("Lý do tạm dừng không hợp lệ", f"reason must be one of {', '.join(PAUSE_REASONS)}",
                      code="bad_reason", field="reason")
    return jsonify(center().engine.pause(counter_id, actor, reason, text_field(data, "note")))


@bp.post("/counters/<counter_id>/resume")
def counter_resume(counter_id: str) -> Any:
    return jsonify(center().engine.resume(counter_id, require("counter.operate")))


@bp.post("/sites/<site>/close-day")
def close_day(site: str) -> Any:
    actor = require("day.close")
    cancelled = center().engine.close_day(site, actor)
    return jsonify({"site": site, "cancelled": cancelled})


@bp.get("/audit")
def audit() -> Any:
    """Who did what, when: staff actions on tickets and counters, and account/admin actions (managers)."""
    require("reports.read")
    site = request.args.get("site")
    if site is not None:  # an empty site is no site: 404, not every site
        center().engine.site(site)
    since = _moment_arg("since") or "0000"
    until = _moment_arg("until") or "9999"
    try:
        limit = int(request.args.get("limit", 200))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 2000:
        raise Invalid("limit phải là số từ 1 đến 2000", "limit must be a whole number from 1 to 2000",
                      code="bad_field", field="limit")
    actor = request.args.get("staff")
    sql = """
        SELECT * FROM (
          SELECT e.at, e.staff AS actor, e.kind AS action, e.site, e.counter_id AS counter,
                 t.number AS ticket_number, e.ticket_id, e.data AS detail
            FROM ticket_events e JOIN tickets t ON t.id = e.ticket_id
           WHERE e.kind NOT IN ('issued', 'procedure')
          UNION ALL
          SELECT at, staff, 'counter_' || kind, site, counter_id, NULL, NULL, reason FROM counter_events
          UNION ALL
          SELECT at, actor, action, NULL, NULL, NULL, NULL, coalesce(target, '') || ' ' || coalesce(detail, '')
            FROM audit_log
        )
        WHERE at >= :since AND at <= :until AND (:site IS NULL OR site = :site OR site IS NULL)
          AND (:actor IS NULL OR actor = :actor)
        ORDER BY at DESC LIMIT :limit"""
    with center().store.read() as conn:
        rows = [dict(r) for r in conn.execute(sql, {"since": since, "until": until, "site": site,
                                                     "actor": actor, "limit": limit})]
    return jsonify({"entries": rows})


MOMENT_RE = re.compile(r"\d{4}-\d{2}-\d{2}([Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))?")


@bp.get("/bookings/slots")
def booking_slots() -> Any:
    """A day's slots of a service with their capacity and places taken (the desk's booking form)."""
    require("booking.manage")
    site, service, day = request.args.get("site"), request.args.get("service"), request.args.get("day")
    for name, value in (("site", site), ("service", service), ("day", day)):
        if not value:
            raise Invalid(f"Thiếu tham số {name}", f"Query parameter '{name}' is required", code="missing_field",
                          field=name)
    return jsonify({"site": site, "service": service, "day": day,
                    "slots": center().engine.slots(str(site), str(service), str(day))})


@bp.post("/bookings")
def booking_create() -> Any:
    """Book a slot for a citizen (the desk, or the province's other systems with a staff token)."""
    actor = require("booking.manage")
    data = json_body()
    booking = center().engine.book(
        field(data, "site", str, required=True), field(data, "service", str, required=True),
        field(data, "slot_at", str, required=True), name=text_field(data, "name", limit=100),
        phone=field(data, "phone", str), origin="api" if bearer_token() else "desk", actor=actor)
    return jsonify(booking), 201


@bp.get("/bookings/<code>")
def booking_get(code: str) -> Any:
    require("booking.manage")
    return jsonify(center().engine.lookup(code))


@bp.post("/bookings/<code>/cancel")
def booking_cancel(code: str) -> Any:
    return jsonify(center().engine.cancel(code, require("booking.manage")))


@bp.post("/bookings/<code>/check-in")
def booking_check_in(code: str) -> Any:
    """The citizen arrived: their ticket (a kiosk device only at its own site; it prints through its own route)."""
    actor = require("booking.check_in")
    source = "kiosk" if actor.role == "kiosk" else "api"
    ticket = center().engine.check_in(code, actor, site_code=actor.site, source=source,
                                      kiosk=actor.name if actor.role == "kiosk" else None)
    from ..output.printing import public_url

    ticket["public_url"] = public_url(center(), ticket["public_id"], request.host_url)
    return jsonify(ticket), 201


def _moment_arg(name: str) -> str | None:
    """A query parameter that is an RFC 3339 date-time (with its offset) or a date (its start in the center's
    time zone), in the stored form (UTC ISO) for comparing; anything else, an empty value too, is a 422."""
    value = request.args.get(name)
    if value is None:
        return None
    try:
        if not MOMENT_RE.fullmatch(value):
            raise ValueError(value)
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
        if moment.tzinfo is None:  # a date
            moment = moment.replace(tzinfo=center().config.tz)
        return to_iso(moment)
    except (ValueError, OverflowError):  # not a moment, or one UTC cannot hold (year 1 east of Greenwich)
        raise Invalid(f"'{name}' phải là ngày (2026-11-23) hoặc ngày giờ có múi giờ (2026-11-23T09:00:00+07:00)",
                      f"'{name}' must be a date (2026-11-23) or an RFC 3339 date-time (2026-11-23T09:00:00+07:00)",
                      code="bad_field", field=name) from None


@bp.get("/openapi.json")
def openapi() -> Any:
    from .openapi import document

    return jsonify(document())
