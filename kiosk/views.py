"""Kiosk screens, the reception desk, ticket printing routes, the print agent's job queue and the phone page.

- /kiosk/<kiosk_id>: the touch screen (device token in the URL fragment); POST .../issue issues and prints,
  POST .../check-in makes and prints the ticket of a booking (its code typed on the keypad or scanned).
- /desk/<site>: staff issue on behalf of a citizen, choosing the priority group and the printer.
- /kiosk/<kiosk_id>/test-print: admins and managers print a test page on a kiosk's printer.
- /kiosk/tickets/<id>/reprint, /tickets/<id>/ticket.png: staff reprint and the ticket's image.
- /kiosk/agent/jobs: the print agent on a kiosk PC fetches its jobs (and test pages) and reports each outcome.
- /t/<public_id>: the citizen follows their ticket by phone (the QR code on the ticket).
"""

from __future__ import annotations

import io
import threading
import time
from typing import Any

import segno
from flask import Blueprint, Response, jsonify, render_template, request, url_for

from center.config.model import SERVICE_ICONS, Kiosk
from center.errors import Conflict, Forbidden, Invalid, NotFound, QueueError, Unauthorized
from center.output import printing
from center.queue import availability, code_limits
from center.queue.actors import Actor
from center.queue.bookings import ALPHABET
from center.queue.estimate import wait_text
from center.queue.issuing import remember_answer, request_answer
from center.web.pages import signed_in
from center.web.request import center, current_actor, field, json_body, json_route, require, text_field

bp = Blueprint("kiosk", __name__, template_folder="templates", static_folder="static",
               static_url_path="/kiosk/static")

AGENT_WAIT_MAX_S = 25


# ------------------------------------------------------------------------------ one issue at a time per kiosk


class _KioskGate:
    """Per kiosk, in this process: a lock that serialises its issues (a double tap waits for the first answer)
    and keeps a test page off a printer that is printing a ticket. The issuing limit and the request ids are
    the engine's, in the database, shared by every process."""

    def __init__(self) -> None:
        self.lock = threading.Lock()


_gates: dict[str, _KioskGate] = {}
_gates_lock = threading.Lock()


def _gate(kiosk_id: str) -> _KioskGate:
    with _gates_lock:
        return _gates.setdefault(kiosk_id, _KioskGate())


# ------------------------------------------------------------------------------ helpers


def _kiosk(kiosk_id: str) -> Kiosk:
    kiosk = center().config.kiosk(kiosk_id)
    if kiosk is None:
        raise NotFound(f"Không có kiosk '{kiosk_id}'", f"Unknown kiosk '{kiosk_id}'", code="unknown_kiosk")
    return kiosk


def _kiosk_actor(kiosk: Kiosk) -> Actor:
    """The caller must be this kiosk's own device token (bound to its site)."""
    actor = current_actor()
    if actor is None:
        raise Unauthorized("Kiosk chưa được cấp mã truy cập", "This kiosk needs its device token", code="no_token")
    if actor.role != "kiosk":
        raise Forbidden("Chỉ thiết bị kiosk mới dùng được chức năng này", "Only a kiosk device may do this")
    if actor.site != kiosk.site:
        raise Forbidden("Thiết bị này thuộc điểm tiếp nhận khác", "This device belongs to another site",
                        code="wrong_site")
    if actor.name != kiosk.id:
        raise Forbidden("Kiosk chỉ được cấp số cho chính mình", "A kiosk may only act for itself",
                        code="wrong_kiosk")
    return actor


def _served_elsewhere(kiosk: Kiosk) -> None:
    """A kiosk of a site that a node serves ([[nodes]] sites) cannot issue here: the citizen is told where to
    take a number, in plain words (the engine's own refusal, for the API, names servers)."""
    node = center().config.node_of_site(kiosk.site)
    if node is not None:
        vi, en = elsewhere_text(node.name)
        raise Conflict(vi, en, code="served_by_node", node=node.id, node_name=node.name)


def elsewhere_text(place: str) -> tuple[str, str]:
    """What a kiosk of a node's site says instead of issuing (Vietnamese, English)."""
    return (f"Kiosk này không cấp số thứ tự. Mời Ông/Bà lấy số tại kiosk hoặc bàn tiếp đón của {place}, "
            "hoặc hỏi cán bộ.",
            f"This kiosk does not issue numbers. Please take a number at a kiosk or the reception desk of {place}, "
            "or ask staff.")


def _staff() -> Actor:
    actor = require("counter.operate")
    return actor


def _ticket_json(ticket: dict[str, Any], kiosk: Kiosk | None = None) -> dict[str, Any]:
    c = center()
    out = {k: ticket.get(k) for k in ("id", "number", "site", "service", "service_name", "service_name_en",
                                      "priority", "priority_name", "status", "issued_at", "ahead",
                                      "estimated_wait_s", "estimated_wait_range_s", "public_id")}
    if ticket.get("status") == "waiting":
        out.update(availability.for_service(c.engine, ticket["site"], ticket["service"]))
    if kiosk is not None and kiosk.voice:  # what the kiosk says when it shows the ticket
        out["speech"] = {lang: _speech(kiosk, "ticket", lang, ticket) for lang in ("vi", "en")}
    out["counters"] = printing.counters_for(c, ticket["site"], ticket["service"])
    out["public_url"] = printing.public_url(c, ticket["public_id"], request.host_url)
    out["qr_url"] = url_for("kiosk.ticket_qr", public_id=ticket["public_id"])
    return out


def _issue_and_print(site: str, service: str, priority: str | None, source: str, actor: Actor,
                     kiosk: Kiosk | None, request_id: str | None = None) -> dict[str, Any]:
    """Issue and print; a request id sent before answers what it answered then (`repeated`), printing nothing."""
    c = center()
    ticket = c.engine.issue(site, service, priority=priority, source=source, actor=actor,
                            kiosk=kiosk.id if kiosk and source == "kiosk" else None, request_id=request_id)
    if ticket.get("repeated") and request_id is not None:
        return {**_repeated_answer(actor, request_id, ticket, kiosk), "repeated": True}
    out: dict[str, Any] = {"ticket": _ticket_json(ticket, kiosk if source == "kiosk" else None)}
    if kiosk is None:
        out["print"] = {"ok": True, "status": "none", "error": None, "message": "", "message_en": ""}
    else:
        out["print"] = printing.print_for(c, kiosk, ticket, actor, request.host_url)
    out["message"] = printing.kiosk_message(out["print"], ticket["number"], "vi")
    out["message_en"] = printing.kiosk_message(out["print"], ticket["number"], "en")
    if request_id is not None:
        remember_answer(c.store, actor.name, request_id, out)
    return out


def _repeated_answer(actor: Actor, request_id: str, ticket: dict[str, Any], kiosk: Kiosk | None) -> dict[str, Any]:
    """The first answer to this request id. Another process may still be printing it: wait for its outcome
    up to the print deadline, then say the ticket exists and its printing is under way."""
    c = center()
    until = time.monotonic() + printing.DEADLINE_S + 0.5
    while True:
        answer = request_answer(c.store, actor.name, request_id)
        if answer is not None or time.monotonic() >= until:
            break
        time.sleep(0.1)
    if answer is not None:
        return answer
    pending = {"ok": True, "status": "pending", "error": None, "message": "", "message_en": "",
               "kiosk": kiosk.id if kiosk else None}
    return {"ticket": _ticket_json(ticket, kiosk), "print": pending, "message": "", "message_en": ""}


# ------------------------------------------------------------------------------ kiosk screen


@bp.get("/kiosk/<kiosk_id>")
def kiosk_page(kiosk_id: str) -> Any:
    c = center()
    kiosk = _kiosk(kiosk_id)
    site = c.config.sites[kiosk.site]
    services = [c.config.services[s] for s in site.services]
    lang = "en" if request.args.get("lang") == "en" else "vi"
    node = c.config.node_of_site(kiosk.site)
    return render_template("kiosk/kiosk.html", kiosk=kiosk, site=site, services=services,
                           elsewhere=elsewhere_text(node.name) if node is not None else None,
                           elsewhere_place=node.name if node is not None else None,
                           groups=c.config.priority_groups, service_icons=SERVICE_ICONS,
                           guide_text=_speech(kiosk, "guide", lang), groups_text=_speech(kiosk, "groups", lang),
                           booking=c.config.booking.enabled, code_keys=ALPHABET)


# ------------------------------------------------------------------------------ spoken guidance
# For citizens who cannot read: the kiosk says what to touch, the priority groups and the ticket (number,
# service, counters, wait). Same engines as the displays' call announcements: the browser's Vietnamese
# voice when it has one, else the server's espeak-ng audio (offline both), cached on disk.


def _speech(kiosk: Kiosk, say: str, lang: str, ticket: dict[str, Any] | None = None) -> str:
    """The text the kiosk speaks (only the server's phrases: never text from a request)."""
    if not kiosk.voice:
        return ""
    c = center()
    en = lang == "en"
    site = c.config.sites[kiosk.site]
    groups = [g.name_en if en else g.name for g in c.config.priority_groups]
    if say == "guide":
        names = "; ".join(c.config.services[s].name_en if en else c.config.services[s].name for s in site.services)
        if en:
            text = f"Touch the picture of the service you need to take a number. The services, left to right: {names}."
            if groups:
                text += f" Priority for: {'; '.join(groups)}: touch the red Priority button under the service."
        else:
            text = (f"Mời Ông/Bà chạm vào hình lĩnh vực cần làm thủ tục để lấy số thứ tự. Các lĩnh vực, từ trái "
                    f"sang phải: {names}.")
            if groups:
                text += f" {'; '.join(groups)}: chạm nút Ưu tiên màu đỏ dưới hình lĩnh vực."
        return text
    if say == "groups":
        return ("Choose the priority group: " if en else "Mời chọn đối tượng ưu tiên: ") + "; ".join(groups) + "."
    if say == "ticket" and ticket is not None:
        from center.output.voice import ticket_words

        number = ticket_words(ticket["number"], read_digits=c.config.voice.read_digits)
        counters = printing.counters_for(c, ticket["site"], ticket["service"])
        note = availability.for_service(c.engine, ticket["site"], ticket["service"])[
            "counter_note_en" if en else "counter_note"] if ticket.get("status") == "waiting" else ""
        bounds = ticket.get("estimated_wait_range_s")
        wait = wait_text(bounds, lang).replace("–", " to " if en else " đến ") if bounds else ""
        if ticket.get("booking_wait"):  # booked: when they are called, instead of the note and a walk-in's wait
            note, wait = ticket["booking_wait_en" if en else "booking_wait"].replace(" –", ","), ""
        service = c.config.services[ticket["service"]]
        if en:
            parts = [f"Your number is {ticket['number']}.", f"{service.name_en}."]
            if counters:
                parts.append("Counters " + ", ".join(map(str, counters)) + ".")
            parts += [f"{note}." if note else "", f"Estimated wait {wait}." if wait else "",
                      "Please take your ticket and listen for your number."]
        else:
            parts = [f"Số thứ tự của Ông/Bà là {number}.", f"Lĩnh vực {service.name}."]
            if counters:
                parts.append("Quầy " + ", ".join(map(str, counters)) + ".")
            parts += [f"{note}." if note else "", f"Thời gian chờ {wait}." if wait else "",
                      "Mời Ông/Bà nhận phiếu và chú ý loa gọi số."]
        return " ".join(p for p in parts if p)
    return ""


@bp.get("/kiosk/<kiosk_id>/speech.wav")
@json_route
def kiosk_speech(kiosk_id: str) -> Any:
    """The kiosk's spoken guidance rendered by espeak-ng (`say` = guide, groups, or ticket with its public
    id), for a kiosk whose browser has no Vietnamese voice. Only on kiosks with `voice = true`."""
    from center.output.voice import espeak_available, speak_wav
    from display.views import voice_cache

    kiosk = _kiosk(kiosk_id)
    say = request.args.get("say", "")
    lang = "en" if request.args.get("lang") == "en" else "vi"
    ticket = None
    if say == "ticket":
        public_id = request.args.get("ticket", "")
        if not 0 < len(public_id) <= 64:
            raise Invalid("Thiếu mã số thứ tự", "ticket is required", code="bad_field", field="ticket")
        ticket = center().engine.get_ticket_by_public_id(public_id)
        if ticket["site"] != kiosk.site:
            raise NotFound("Không tìm thấy số thứ tự", "Ticket not found", code="unknown_ticket")
    text = _speech(kiosk, say, lang, ticket) if say in ("guide", "groups", "ticket") else ""
    if not kiosk.voice or not text:
        raise NotFound("Kiosk này không bật hướng dẫn bằng giọng nói", "Spoken guidance is off on this kiosk",
                       code="no_voice")
    if not espeak_available():
        raise QueueError("Máy chủ chưa cài espeak-ng", "espeak-ng is not installed", code="no_voice", status=503)
    rate = center().config.voice.rate
    cache = voice_cache()
    path = cache.path_for("\n".join(["kiosk-v1", lang, str(rate), text]))
    if path.exists():
        data = path.read_bytes()
    else:
        data = speak_wav(text, voice="en" if lang == "en" else "vi", rate=rate)
        path.parent.mkdir(parents=True, exist_ok=True)
        cache._trim()  # the directory stays bounded, announcements and kiosk phrases together
        tmp = path.with_suffix(f".{threading.get_ident()}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return Response(data, mimetype="audio/wav", headers={"Cache-Control": "max-age=300"})


@bp.post("/kiosk/<kiosk_id>/issue")
@json_route
def kiosk_issue(kiosk_id: str) -> Any:
    kiosk = _kiosk(kiosk_id)
    actor = _kiosk_actor(kiosk)
    data = json_body()
    service = field(data, "service", str, required=True)
    priority = field(data, "priority", str) or None
    request_id = field(data, "request_id", str)
    _served_elsewhere(kiosk)
    with _gate(kiosk.id).lock:  # one issue at a time per kiosk here: a double tap waits, then gets the same answer
        answer = _issue_and_print(kiosk.site, service, priority, "kiosk", actor, kiosk, request_id)
    return jsonify(answer), 201


@bp.post("/kiosk/<kiosk_id>/check-in")
@json_route
def kiosk_check_in(kiosk_id: str) -> Any:
    """A citizen who booked types (or scans) their code: the ticket, printed as any other and marked booked."""
    kiosk = _kiosk(kiosk_id)
    actor = _kiosk_actor(kiosk)
    code = field(json_body(), "code", str, required=True)
    _served_elsewhere(kiosk)
    c = center()
    with _gate(kiosk.id).lock:
        ticket = c.engine.check_in(code, actor, site_code=kiosk.site, source="kiosk", kiosk=kiosk.id)
        shown = {**_ticket_json(ticket, kiosk), **{k: ticket.get(k) for k in BOOKED_KEYS}}
        if ticket.get("booking_wait"):  # a booked citizen is told when they are called, not a walk-in's wait
            shown.update(counter_note="", counter_note_en="", estimated_wait_s=None, estimated_wait_range_s=None)
        out: dict[str, Any] = {"ticket": shown}
        out["print"] = printing.print_for(c, kiosk, ticket, actor, request.host_url)
    out["message"] = printing.kiosk_message(out["print"], ticket["number"], "vi")
    out["message_en"] = printing.kiosk_message(out["print"], ticket["number"], "en")
    return jsonify(out), 201


BOOKED_KEYS = ("booking", "booking_note", "booking_note_en", "booking_wait", "booking_wait_en")


@bp.get("/kiosk/<kiosk_id>/printer")
@json_route
def kiosk_printer(kiosk_id: str) -> Any:
    """The printer's health (online, paper, cover) where the hardware reports it."""
    from printer_drivers.drivers import status

    kiosk = _kiosk(kiosk_id)
    actor = current_actor()
    if actor is None or actor.role != "kiosk":
        require("counter.operate")
    else:
        _kiosk_actor(kiosk)
    p = kiosk.printer
    if p.driver in ("none", "agent"):
        return jsonify({"kiosk": kiosk.id, "driver": p.driver, "ok": True, "status": "unknown", "health": None})
    result = status(p, deadline_s=printing.DEADLINE_S).to_json()
    return jsonify({"kiosk": kiosk.id, "driver": p.driver, **result})


@bp.post("/kiosk/<kiosk_id>/test-print")
@json_route
def kiosk_test_print(kiosk_id: str) -> Any:
    """A test page on the kiosk's printer (admins and managers of its site): the outcome within the ticket
    deadline, nothing recorded on any ticket, one audit_log row."""
    kiosk = _kiosk(kiosk_id)
    actor = require("admin.settings", site=kiosk.site)
    start = time.monotonic()
    gate = _gate(kiosk.id)
    # Never while this kiosk prints a ticket: many printers take one connection at a time.
    if not gate.lock.acquire(timeout=1.0):
        raise Conflict("Kiosk đang in số, vui lòng thử lại sau giây lát",
                       "The kiosk is printing a ticket; please try again in a moment", code="printer_busy")
    try:
        deadline_s = max(0.5, printing.DEADLINE_S - (time.monotonic() - start))
        return jsonify(printing.test_print_for(center(), kiosk, actor, deadline_s=deadline_s))
    finally:
        gate.lock.release()


# ------------------------------------------------------------------------------ reception desk


@bp.get("/desk/<site>")
def desk_page(site: str) -> Any:
    c = center()
    actor = signed_in()
    require("counter.operate")
    s = c.engine.site(site)
    printers = [k for k in s.kiosks if k.printer.driver != "none"]
    return render_template("kiosk/desk.html", site=s, services=[c.config.services[x] for x in s.services],
                           groups=c.config.priority_groups, printers=printers, actor=actor,
                           booking=c.config.booking, today=c.engine.today(s))


@bp.get("/desk/<site>/printers")
@json_route
def desk_printers(site: str) -> Any:
    """Kiosk printers of the site that fail now, with the numbers still without a paper ticket."""
    require("counter.operate")
    s = center().engine.site(site)
    return jsonify({"site": s.code, "printers": printing.printer_problems(center(), s.code)})


@bp.get("/desk/<site>/code-alerts")
@json_route
def desk_code_alerts(site: str) -> Any:
    """Pauses of booking-code check-in at the site in the last hour (wrong codes typed again and again: someone
    may be guessing), each with who typed them (a kiosk by its name) and until when it is refused."""
    require("counter.operate")
    c = center()
    s = c.engine.site(site)
    with c.store.read() as conn:
        alerts = code_limits.alerts(conn, s.code, c.engine.clock())
    for a in alerts:
        kiosk = c.config.kiosk(a["caller"]) if a["caller"] else None
        a["caller_name"] = kiosk.name if kiosk is not None else a["caller"]
    return jsonify({"site": s.code, "alerts": alerts})


@bp.post("/desk/<site>/issue")
@json_route
def desk_issue(site: str) -> Any:
    c = center()
    actor = _staff()
    s = c.engine.site(site)
    data = json_body()
    service = field(data, "service", str, required=True)
    priority = field(data, "priority", str) or None
    printer = field(data, "printer", str) or None
    request_id = field(data, "request_id", str)
    kiosk = None
    if printer:
        kiosk = c.config.kiosk(printer)
        if kiosk is None or kiosk.site != s.code:
            raise Invalid("Máy in không thuộc điểm tiếp nhận này", "That printer is not at this site",
                          code="unknown_printer", field="printer")
    return jsonify(_issue_and_print(s.code, service, priority, "desk", actor, kiosk, request_id)), 201


@bp.post("/kiosk/tickets/<int:ticket_id>/reprint")
@json_route
def reprint(ticket_id: int) -> Any:
    c = center()
    actor = _staff()
    data = json_body()
    ticket = c.engine.get_ticket(ticket_id, private=True)
    kiosk_id = field(data, "kiosk", str)
    if not kiosk_id and ticket.get("source") == "kiosk":
        kiosk_id = _ticket_device(ticket_id)
    kiosk = c.config.kiosk(kiosk_id) if kiosk_id else None
    if kiosk is None or kiosk.site != ticket["site"]:
        raise Invalid("Hãy chọn máy in của điểm tiếp nhận này", "Choose a printer (kiosk) of the ticket's site",
                      code="unknown_printer", field="kiosk")
    out = printing.print_for(c, kiosk, ticket, actor, request.host_url, reprint=True)
    return jsonify({"ticket": _ticket_json(ticket), "print": out,
                    "message": printing.kiosk_message(out, ticket["number"], "vi"),
                    "message_en": printing.kiosk_message(out, ticket["number"], "en")})


def _ticket_device(ticket_id: int) -> str | None:
    with center().store.connection() as conn:
        row = conn.execute("SELECT device FROM tickets WHERE id = ?", (ticket_id,)).fetchone()
    return row["device"] if row else None


@bp.get("/tickets/<int:ticket_id>/ticket.png")
@json_route
def ticket_png(ticket_id: int) -> Any:
    """The ticket as printed, for staff, documentation and tests (and the kiosk of that site)."""
    from printer_drivers.ticket import paper_width, render_ticket

    c = center()
    actor = current_actor()
    if actor is None:
        raise Unauthorized("Cần đăng nhập", "Sign-in or a bearer token is required")
    ticket = c.engine.get_ticket(ticket_id, private=True)
    if actor.role == "kiosk":
        if actor.site != ticket["site"]:
            raise NotFound(f"Không có số thứ tự mã {ticket_id}", f"No ticket with id {ticket_id}",
                           code="unknown_ticket")
    else:
        require("counter.operate")
    paper = request.args.get("paper", "80")
    if paper not in ("58", "80"):
        raise Invalid("Khổ giấy chỉ có 58 hoặc 80 mm", "paper must be 58 or 80", code="bad_field", field="paper")
    profile = request.args.get("profile") or None
    if profile is not None and (len(profile) > 40 or not profile.replace("-", "").replace("_", "").isalnum()):
        raise Invalid("Mẫu máy in không hợp lệ", "bad profile", code="bad_field", field="profile")
    img = render_ticket(printing.ticket_data(c, ticket, request.host_url), paper_width(int(paper), profile))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return Response(buf.getvalue(), mimetype="image/png", headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------------------ print agent


@bp.get("/kiosk/agent/jobs")
@json_route
def agent_jobs() -> Any:
    """Long poll: the kiosk's pending print jobs with everything to print them (waits up to `wait` s)."""
    c = center()
    actor = current_actor()
    if actor is None or actor.role != "kiosk":
        raise Unauthorized("Cần mã truy cập của kiosk", "A kiosk device token is required", code="no_token")
    kiosk = _kiosk(actor.name)
    _kiosk_actor(kiosk)
    try:
        wait = min(AGENT_WAIT_MAX_S, max(0.0, float(request.args.get("wait", "0"))))
    except ValueError:
        wait = 0.0
    until = time.monotonic() + wait
    while True:
        jobs = printing.claim_jobs(c, kiosk.id)
        test = printing.claim_test(c, kiosk.id)
        if jobs or test or time.monotonic() >= until:
            break
        time.sleep(0.1)
    out = []
    for job in jobs:
        ticket = c.engine.get_ticket(job["ticket_id"], private=True)
        out.append({"id": job["id"], "ticket": job["ticket_id"], "number": ticket["number"],
                    "data": printing.ticket_data(c, ticket, request.host_url).to_json()})
    tests = [{"id": test["id"], "page": test["page"],
              "report": url_for("kiosk.agent_test_report", job_id=test["id"])}] if test else []
    return jsonify({"kiosk": kiosk.id, "jobs": out, "tests": tests})


def _agent_outcome() -> tuple[Any, Any, bool, str | None, dict | None]:
    """The print agent's report: its kiosk (from its token) and what happened to the job."""
    actor = current_actor()
    if actor is None or actor.role != "kiosk":
        raise Unauthorized("Cần mã truy cập của kiosk", "A kiosk device token is required", code="no_token")
    kiosk = _kiosk(actor.name)
    _kiosk_actor(kiosk)
    data = json_body()
    return (actor, kiosk, field(data, "ok", bool, required=True), text_field(data, "error"),
            field(data, "health", dict))


@bp.post("/kiosk/agent/jobs/<int:job_id>")
@json_route
def agent_report(job_id: int) -> Any:
    actor, kiosk, ok, error, health = _agent_outcome()
    return jsonify(printing.report_job(center(), kiosk, job_id, ok, error, health, actor))


@bp.post("/kiosk/agent/tests/<int:job_id>")
@json_route
def agent_test_report(job_id: int) -> Any:
    """The print agent reports a test page (asked with POST /kiosk/<kiosk_id>/test-print)."""
    _actor, kiosk, ok, error, health = _agent_outcome()
    return jsonify(printing.report_test(center(), kiosk, job_id, ok, error, health))


# ------------------------------------------------------------------------------ phone page


@bp.get("/t/<public_id>")
def follow_page(public_id: str) -> Any:
    c = center()
    if len(public_id) > 64:
        raise NotFound("Không tìm thấy số thứ tự", "Ticket not found", code="unknown_ticket")
    ticket = c.engine.get_ticket_by_public_id(public_id)
    site = c.config.sites[ticket["site"]]
    return render_template("kiosk/follow.html", ticket=ticket, public_id=public_id, site=site,
                           counters=printing.counters_for(c, ticket["site"], ticket["service"]))


@bp.get("/t/<public_id>/qr.svg")
def ticket_qr(public_id: str) -> Any:
    c = center()
    if len(public_id) > 64:
        raise NotFound("Không tìm thấy số thứ tự", "Ticket not found", code="unknown_ticket")
    c.engine.get_ticket_by_public_id(public_id)
    buf = io.BytesIO()
    segno.make(printing.public_url(c, public_id, request.host_url), error="m").save(
        buf, kind="svg", scale=8, border=2, xmldecl=False)
    return Response(buf.getvalue(), mimetype="image/svg+xml", headers={"Cache-Control": "max-age=3600"})
