"""Print jobs: print a ticket on a kiosk's printer within a hard deadline and record what happened.

Every attempt leaves a `print_jobs` row and a `printed` / `print_failed` ticket event, so a reprint or a
complaint can be traced. A failure is also pushed live to staff and managers as `printer.status` in the
site room. Kiosks whose printer hangs off the kiosk PC (driver "agent") get a pending job that the print
agent (`python -m printer_drivers.agent`) claims, prints and reports; the kiosk waits for that report
within the same deadline.

A test print (admin page) goes to the same printer within the same deadline but touches no ticket and
no print job: it leaves one audit_log row.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

from printer_drivers import drivers
from printer_drivers.drivers import MESSAGES, PrintResult, print_ticket
from printer_drivers.ticket import TicketData

from .. import offload
from ..config.model import Kiosk, Printer
from ..queue import availability
from ..queue.actors import Actor
from ..queue.clock import from_iso, to_iso
from ..queue.estimate import wait_range, wait_text
from ..queue.events import Event
from ..storage import audit, settings
from ..storage.outbox import own_id

DEADLINE_S = 2.5  # the printer's share of the kiosk's 3 s: the issue itself and the answer need the rest
AGENT_JOB_TTL_S = 60  # a job the agent did not claim within a minute is stale: never print it later
# A USB, serial or file write blocks in C: in the server it runs on a native thread, never in the event loop.
drivers.use_runner(offload.run)


def counters_for(c: Any, site: str, service: str) -> list[int]:
    """Numbers of the counters that serve `service` today, in order."""
    return sorted(ct.number for ct in c.config.sites[site].counters if service in c.engine.counter_services(ct))


def public_url(c: Any, public_id: str, host_url: str) -> str:
    base = (c.public_url or host_url or "").rstrip("/")
    return f"{base}/t/{public_id}"


def ticket_data(c: Any, ticket: dict[str, Any], host_url: str) -> TicketData:
    cfg = c.config
    site = cfg.sites[ticket["site"]]
    return TicketData(
        center_name=cfg.center_name, site_name=site.name, number=ticket["number"],
        service_name=ticket.get("service_name") or ticket["service"],
        counters=tuple(counters_for(c, ticket["site"], ticket["service"])),
        ahead=ticket.get("ahead"), estimated_wait_s=ticket.get("estimated_wait_s"),
        # A booked ticket says when it is called (center.queue.bookings), instead of a walk-in's note and wait.
        wait_text="" if ticket.get("booking_wait") else
        wait_text(bounds) if (bounds := wait_range(ticket.get("estimated_wait_s"))) else "",
        wait_note=ticket.get("booking_wait") or (availability.for_service(c.engine, ticket["site"], ticket["service"])[
            "counter_note"] if ticket.get("status", "waiting") == "waiting" else ""),
        issued_at=ticket["issued_at"], timezone=cfg.timezone,
        # A booked ticket says so on the line of the priority mark (the print agent's format is unchanged).
        priority_name=" · ".join(x for x in (ticket.get("booking_note"), ticket.get("priority_name")) if x) or None,
        url=public_url(c, ticket["public_id"], host_url) if ticket.get("public_id") else "",
        footer=cfg.ticket_footer)


def kiosk_message(result: dict[str, Any], number: str, lang: str = "vi") -> str:
    """What the kiosk screen says when the ticket did not print."""
    if result.get("ok"):
        return ""
    if lang == "en":
        return f"{result.get('message_en') or 'Printing failed'} – please remember number {number} and ask staff"
    return f"{result.get('message') or 'Không in được số'} – vui lòng ghi nhớ số {number} và liên hệ cán bộ"


def print_for(c: Any, kiosk: Kiosk, ticket: dict[str, Any], actor: Actor, host_url: str, *,
              reprint: bool = False, deadline_s: float = DEADLINE_S) -> dict[str, Any]:
    """Print `ticket` on `kiosk`'s printer; always returns within `deadline_s` with the outcome."""
    start = time.monotonic()
    printer: Printer = kiosk.printer
    if printer.driver == "none":
        return {"ok": True, "status": "none", "error": None, "message": "", "message_en": "", "kiosk": kiosk.id}
    if printer.driver == "agent":
        out = _via_agent(c, kiosk, ticket, actor, deadline_s - (time.monotonic() - start), reprint=reprint)
    else:
        data = ticket_data(c, ticket, host_url)
        result = print_ticket(printer, data, deadline_s=max(0.3, deadline_s - (time.monotonic() - start) - 0.1))
        if result.settled is not None:  # the printer is still taking the job: its outcome comes later, not "failed"
            job_id = _insert_job(c, ticket, kiosk, "printing", None)
            _settle_later(c, kiosk, ticket, actor, job_id, result.settled, reprint)
            out = {**PrintResult(ok=True, status="pending").to_json(), "job": job_id}
        else:
            out = result.to_json()
            job_id = _insert_job(c, ticket, kiosk, "printed" if result.ok else "failed", result.error)
            record_outcome(c, ticket, kiosk, out, actor, job_id=job_id, reprint=reprint)
    out["kiosk"] = kiosk.id
    return out


LATE_WAIT_S = 30.0  # how long a write that outlived the deadline may still finish before it counts as failed


def _settle_later(c: Any, kiosk: Kiosk, ticket: dict[str, Any], actor: Actor, job_id: int,
                  settled: Any, reprint: bool) -> None:
    """Wait (in a greenlet under gevent, else a thread) for a write that outlived the kiosk's deadline, then
    record what really happened and tell the kiosk (`printer.status` with the ticket): after a restart the
    first ticket printed whole at 3.1 s while the kiosk said the printer had not answered."""

    def wait() -> None:
        until = time.monotonic() + LATE_WAIT_S
        result = settled()
        while result is None and time.monotonic() < until:
            time.sleep(0.05)
            result = settled()
        out = (result or PrintResult.failed("timeout")).to_json()
        now = to_iso(c.engine.clock())
        with c.store.write() as conn:
            conn.execute("UPDATE print_jobs SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                         ("printed" if out["ok"] else "failed", out["error"], now, job_id))
        record_outcome(c, ticket, kiosk, out, actor, job_id=job_id, reprint=reprint, late=True)

    threading.Thread(target=wait, name=f"print-settle-{job_id}", daemon=True).start()


def _insert_job(c: Any, ticket: dict[str, Any], kiosk: Kiosk, status: str, error: str | None) -> int:
    now = to_iso(c.engine.clock())
    with c.store.write() as conn:
        return int(conn.execute(
            "INSERT INTO print_jobs (id, ticket_id, kiosk, status, error, created_at, updated_at) "
            f"VALUES ({own_id('print_jobs')},?,?,?,?,?,?)",
            (ticket["id"], kiosk.id, status, error, now, now)).lastrowid)


def record_outcome(c: Any, ticket: dict[str, Any], kiosk: Kiosk, out: dict[str, Any], actor: Actor, *,
                   job_id: int | None = None, reprint: bool = False, late: bool = False) -> None:
    """The outcome on the ticket's history, and live to staff when a printer fails or recovers (and always
    when it comes `late`, after the kiosk's answer said "pending": the kiosk waits for it)."""
    data = {"kiosk": kiosk.id, "job": job_id, "error": out.get("error"), "message": out.get("message"),
            "health": out.get("health"), "reprint": reprint or None}
    now = c.engine.record_print(ticket, bool(out.get("ok")), actor.name,
                                {k: v for k, v in data.items() if v is not None})
    with c.lock:
        was_ok = c.printers_ok.get(kiosk.id, True)
        c.printers_ok[kiosk.id] = bool(out.get("ok"))
    health = out.get("health") or {}
    if late or not out.get("ok") or not was_ok or health.get("paper") == "low":
        payload = {"kiosk": kiosk.id, "kiosk_name": kiosk.name, "site": kiosk.site, "ok": bool(out.get("ok")),
                   "error": out.get("error"), "message": out.get("message"), "message_en": out.get("message_en"),
                   "health": health, "ticket": ticket["id"], "number": ticket["number"], "at": now,
                   "late": late or None,
                   "kiosk_message": kiosk_message(out, ticket["number"], "vi"),
                   "kiosk_message_en": kiosk_message(out, ticket["number"], "en")}
        # After the commit, in order with the queue's own events; the publisher never raises into a request.
        c.engine.publish([Event("printer.status", kiosk.site, payload)])


def printer_problems(c: Any, site: str) -> list[dict[str, Any]]:
    """Kiosks of `site` whose last print of the service day failed, for staff (counter and desk pages).

    Each names the kiosk by its configured name, the error of its last attempt, since when it fails, and
    the tickets that failed there and were not printed since on any printer, while their citizen still
    waits or is at a counter: those a desk can reprint. The state is read from `print_jobs`, so a page
    opened after the failure (or after a restart) shows it too; `printer.status` only makes it live.
    """
    s = c.config.sites[site]
    kiosks = {k.id: k for k in s.kiosks if k.printer.driver != "none"}
    if not kiosks:
        return []
    day = c.engine.today(s)
    out: list[dict[str, Any]] = []
    with c.store.read() as conn:
        for kiosk_id in kiosks:
            # Both reads walk the (kiosk, status) index from the kiosk's last good print on.
            last_ok = conn.execute("SELECT coalesce(max(id), 0) FROM print_jobs WHERE kiosk = ? AND status = 'printed'",
                                   (kiosk_id,)).fetchone()[0]
            failed = conn.execute(
                "SELECT j.id, j.error, j.updated_at, j.ticket_id FROM print_jobs j "
                "JOIN tickets t ON t.id = j.ticket_id "
                "WHERE j.kiosk = ? AND j.status = 'failed' AND j.id > ? AND t.service_day = ? ORDER BY j.id",
                (kiosk_id, last_ok, day)).fetchall()
            if not failed:
                continue
            ids = sorted({j["ticket_id"] for j in failed})
            tickets = conn.execute(
                f"SELECT id, number, status FROM tickets t WHERE id IN ({','.join('?' * len(ids))}) "
                "AND status IN ('waiting', 'called', 'serving') AND NOT EXISTS (SELECT 1 FROM print_jobs p "
                "WHERE p.ticket_id = t.id AND p.status = 'printed' AND p.id > ?) ORDER BY id",
                (*ids, failed[0]["id"])).fetchall()
            last = failed[-1]
            vi, en = MESSAGES.get(last["error"] or "", MESSAGES["printer_error"])
            out.append({"kiosk": kiosk_id, "kiosk_name": kiosks[kiosk_id].name, "error": last["error"],
                        "message": vi, "message_en": en, "since": failed[0]["updated_at"], "at": last["updated_at"],
                        "failed": len(failed), "tickets": [dict(t) for t in tickets]})
    return out


# ------------------------------------------------------------------------------ print agent


def _via_agent(c: Any, kiosk: Kiosk, ticket: dict[str, Any], actor: Actor, deadline_s: float, *,
               reprint: bool) -> dict[str, Any]:
    job_id = _insert_job(c, ticket, kiosk, "pending", None)
    until = time.monotonic() + max(0.2, deadline_s - 0.1)
    while time.monotonic() < until:
        with c.store.connection() as conn:
            row = conn.execute("SELECT status, error FROM print_jobs WHERE id = ?", (job_id,)).fetchone()
        if row["status"] in ("printed", "failed"):
            with c.store.connection() as conn:
                ev = conn.execute("SELECT data FROM ticket_events WHERE ticket_id = ? AND kind IN "
                                  "('printed','print_failed') ORDER BY id DESC LIMIT 1", (ticket["id"],)).fetchone()
            detail = json.loads(ev["data"]) if ev and ev["data"] else {}
            if row["status"] == "printed":
                return {"ok": True, "status": "printed", "error": None, "message": "", "message_en": "",
                        "health": detail.get("health") or {}, "job": job_id}
            out = PrintResult.failed(row["error"] or "printer_error").to_json()
            out["health"] = detail.get("health") or out["health"]
            out["job"] = job_id
            return out
        time.sleep(0.05)
    now = to_iso(c.engine.clock())
    with c.store.write() as conn:
        expired = conn.execute("UPDATE print_jobs SET status = 'failed', error = 'agent_offline', updated_at = ? "
                               "WHERE id = ? AND status = 'pending'", (now, job_id)).rowcount
        # Claimed by the agent and not reported yet: it is printing. The kiosk hears its report when it comes
        # (report_job sees this mark), not "chưa báo kết quả" for a ticket that then prints.
        late = not expired and conn.execute(
            "UPDATE print_jobs SET error = ?, updated_at = ? WHERE id = ? AND status = 'printing'",
            (PENDING_ANSWER, now, job_id)).rowcount
    if late:
        _agent_watch(c, kiosk, ticket, actor, job_id, reprint)
        return {**PrintResult(ok=True, status="pending").to_json(), "job": job_id}
    out = PrintResult.failed("agent_offline" if expired else "agent_slow").to_json()
    out["job"] = job_id
    if expired:
        record_outcome(c, ticket, kiosk, out, actor, job_id=job_id, reprint=reprint)
    return out


PENDING_ANSWER = "pending_answer"  # print_jobs.error of a job the kiosk was told is printing: its outcome comes late


def _agent_watch(c: Any, kiosk: Kiosk, ticket: dict[str, Any], actor: Actor, job_id: int, reprint: bool) -> None:
    """A claimed job the agent never reports within LATE_WAIT_S fails then (and the kiosk and staff are told);
    one it reports is recorded by report_job."""

    def wait() -> None:
        until = time.monotonic() + LATE_WAIT_S
        while time.monotonic() < until:
            time.sleep(0.2)
            with c.store.connection() as conn:
                row = conn.execute("SELECT status FROM print_jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None or row["status"] != "printing":
                return
        with c.store.write() as conn:
            failed = conn.execute("UPDATE print_jobs SET status = 'failed', error = 'agent_slow', updated_at = ? "
                                  "WHERE id = ? AND status = 'printing'", (to_iso(c.engine.clock()), job_id)).rowcount
        if failed:
            out = {**PrintResult.failed("agent_slow").to_json(), "job": job_id}
            record_outcome(c, ticket, kiosk, out, actor, job_id=job_id, reprint=reprint, late=True)

    threading.Thread(target=wait, name=f"agent-watch-{job_id}", daemon=True).start()


def claim_jobs(c: Any, kiosk_id: str, limit: int = 5) -> list[dict[str, Any]]:
    """Pending jobs of a kiosk, marked `printing`; stale ones fail instead of printing late."""
    now = c.engine.clock()
    iso = to_iso(now)
    stale_before = to_iso(now - timedelta(seconds=AGENT_JOB_TTL_S))
    with c.store.write() as conn:
        conn.execute("UPDATE print_jobs SET status = 'failed', error = 'agent_offline', updated_at = ? "
                     "WHERE kiosk = ? AND status = 'pending' AND created_at < ?", (iso, kiosk_id, stale_before))
        rows = conn.execute(
            "UPDATE print_jobs SET status = 'printing', updated_at = ? WHERE id IN (SELECT id FROM print_jobs "
            "WHERE kiosk = ? AND status = 'pending' ORDER BY id LIMIT ?) RETURNING id, ticket_id",
            (iso, kiosk_id, limit)).fetchall()
    return [dict(r) for r in sorted(rows, key=lambda r: r["id"])]


def has_pending(c: Any, kiosk_id: str) -> bool:
    with c.store.connection() as conn:
        return conn.execute("SELECT 1 FROM print_jobs WHERE kiosk = ? AND status = 'pending' LIMIT 1",
                            (kiosk_id,)).fetchone() is not None


def report_job(c: Any, kiosk: Kiosk, job_id: int, ok: bool, error: str | None, health: dict[str, Any] | None,
               actor: Actor) -> dict[str, Any]:
    from ..errors import NotFound

    now = to_iso(c.engine.clock())
    code = None if ok else (error if error in MESSAGES else "printer_error")
    with c.store.write() as conn:
        before = conn.execute("SELECT error FROM print_jobs WHERE id = ?", (job_id,)).fetchone()
        row = conn.execute("UPDATE print_jobs SET status = ?, error = ?, updated_at = ? WHERE id = ? AND kiosk = ? "
                           "AND status IN ('printing', 'pending') RETURNING ticket_id",
                           ("printed" if ok else "failed", code, now, job_id, kiosk.id)).fetchone()
    if row is None:
        raise NotFound("Không có lệnh in này", f"No open print job {job_id} for this kiosk", code="unknown_job")
    ticket = c.engine.get_ticket(row["ticket_id"], private=True)
    out = PrintResult(ok=True, status="printed").to_json() if ok else PrintResult.failed(code or "").to_json()
    if isinstance(health, dict):
        out["health"] = {k: health.get(k) for k in ("online", "paper", "cover_open", "answered")}
    record_outcome(c, ticket, kiosk, out, actor, job_id=job_id, late=before["error"] == PENDING_ANSWER)
    return {"job": job_id, "status": "printed" if ok else "failed"}


def job_age_s(created_at: str, now: Any) -> float:
    return (now - from_iso(created_at)).total_seconds()


# ------------------------------------------------------------------------------ test print


def test_print_for(c: Any, kiosk: Kiosk, actor: Actor, *, deadline_s: float = DEADLINE_S) -> dict[str, Any]:
    """Print a test page on `kiosk`'s printer within `deadline_s`; touches no ticket, writes an audit_log row."""
    from printer_drivers.drivers import print_test_page

    cfg = c.config
    site = cfg.sites[kiosk.site]
    now = c.engine.clock()
    when = now.astimezone(cfg.tz).strftime("%H:%M:%S – %d/%m/%Y")
    printer: Printer = kiosk.printer
    if printer.driver == "none":
        out = {"ok": True, "status": "none", "error": None,
               "message": "Kiosk này không có máy in (chỉ hiện số trên màn hình)",
               "message_en": "This kiosk has no printer (the number is shown on screen only)"}
    elif printer.driver == "agent":
        page = {"center_name": cfg.center_name, "site_name": site.name, "kiosk_name": kiosk.name, "when": when}
        out = _agent_test(c, kiosk, actor, page, deadline_s)
        if out["ok"]:
            out["message"] = "Đã gửi trang in thử tới máy in"
            out["message_en"] = "The test page was sent to the printer"
    else:
        result = print_test_page(printer, cfg.center_name, site.name, kiosk.name, when,
                                 deadline_s=max(0.3, deadline_s - 0.1))
        out = result.to_json()
        if result.ok:
            out["message"] = "Đã gửi trang in thử tới máy in"
            out["message_en"] = "The test page was sent to the printer"
    out["kiosk"] = kiosk.id
    out["kiosk_name"] = kiosk.name
    out["driver"] = printer.driver
    out["at"] = to_iso(now)
    detail = {"ok": out["ok"], "status": out["status"], "error": out.get("error"), "driver": printer.driver}
    with c.store.write() as conn:
        audit.record(conn, to_iso(now), actor.name, actor.role, "printer.test", kiosk.id,
                     {k: v for k, v in detail.items() if v is not None})
    return out


# A kiosk PC's print agent gets its test page through one settings row per kiosk (never a ticket's print
# job): pending → printing (claimed by the agent) → printed / failed (reported), or failed when unclaimed.
TEST_TTL_S = 10  # a test page not claimed within 10 s is dropped: nobody is waiting for it any more


def _agent_test(c: Any, kiosk: Kiosk, actor: Actor, page: dict[str, str], deadline_s: float) -> dict[str, Any]:
    iso = to_iso(c.engine.clock())
    test_id = time.time_ns() // 1_000_000 % 2_000_000_000
    value = {"id": test_id, "status": "pending", "error": None, "health": None, "page": page, "created_at": iso}
    with c.store.write() as conn:
        settings.set_agent_test(conn, kiosk.id, value, iso, actor.name)
    until = time.monotonic() + max(0.2, deadline_s - 0.1)
    while time.monotonic() < until:
        with c.store.connection() as conn:
            current = settings.agent_test(conn, kiosk.id)
        if current.get("id") != test_id:
            break  # another test print replaced this one
        if current.get("status") in ("printed", "failed"):
            if current["status"] == "printed":
                return {"ok": True, "status": "printed", "error": None, "message": "", "message_en": "",
                        "health": current.get("health") or {}}
            out = PrintResult.failed(current.get("error") or "printer_error").to_json()
            out["health"] = current.get("health") or out["health"]
            return out
        time.sleep(0.05)
    with c.store.write() as conn:
        current = settings.agent_test(conn, kiosk.id)
        expired = current.get("id") == test_id and current.get("status") == "pending"
        if expired:
            settings.drop_agent_test(conn, kiosk.id)
    return PrintResult.failed("agent_offline" if expired else "agent_slow").to_json()


def claim_test(c: Any, kiosk_id: str) -> dict[str, Any] | None:
    """The kiosk's pending test page, marked `printing`; one older than TEST_TTL_S is dropped instead."""
    now = c.engine.clock()
    with c.store.write() as conn:
        current = settings.agent_test(conn, kiosk_id)
        if current.get("status") != "pending":
            return None
        if job_age_s(current["created_at"], now) > TEST_TTL_S:
            settings.drop_agent_test(conn, kiosk_id)
            return None
        current["status"] = "printing"
        settings.set_agent_test(conn, kiosk_id, current, to_iso(now))
    return {"id": current["id"], "page": current["page"]}


def report_test(c: Any, kiosk: Kiosk, test_id: int, ok: bool, error: str | None,
                health: dict[str, Any] | None) -> dict[str, Any]:
    from ..errors import NotFound

    with c.store.write() as conn:
        current = settings.agent_test(conn, kiosk.id)
        if current.get("id") != test_id or current.get("status") not in ("printing", "pending"):
            raise NotFound("Không có lệnh in thử này", f"No open test print {test_id} for this kiosk",
                           code="unknown_job")
        current["status"] = "printed" if ok else "failed"
        current["error"] = None if ok else (error if error in MESSAGES else "printer_error")
        if isinstance(health, dict):
            current["health"] = {k: health.get(k) for k in ("online", "paper", "cover_open", "answered")}
        settings.set_agent_test(conn, kiosk.id, current, to_iso(c.engine.clock()))
    return {"job": test_id, "status": current["status"]}


# ------------------------------------------------------------------------------ warm-up at start


def warm_up(c: Any) -> dict[str, float]:
    """Do once, before the first citizen taps, what a process does cold on its first ticket: python-escpos
    parses its printer database (YAML, into a fresh temporary directory each start), Pillow loads the font at
    each size, raqm lays out the header lines, segno draws a QR code, the offload pool starts its threads and
    the resolver its own. Profiled: first render + encode 312 ms, later ones 4 ms; on a kiosk-class PC after
    a restart the first tap took 3.1 s and was told its ticket had failed. Prints nothing: no printer is
    contacted. Returns the milliseconds of each step (logged)."""
    cfg = c.config
    timings: dict[str, float] = {}
    t0 = time.monotonic()
    offload.run(lambda: None)  # the pool and its native thread
    timings["pool_ms"] = (time.monotonic() - t0) * 1000
    t0 = time.monotonic()
    seen: set[tuple[int, str, bool]] = set()
    issued = to_iso(c.engine.clock())
    for site in cfg.sites.values():
        for kiosk in site.kiosks:
            p = kiosk.printer
            if p.driver in ("none", "agent") or (p.paper_mm, p.profile, p.text_mode) in seen:
                continue
            seen.add((p.paper_mm, p.profile, p.text_mode))
            service = cfg.services[site.services[0]] if site.services else None
            sample = TicketData(
                center_name=cfg.center_name, site_name=site.name, number="A001",
                service_name=service.name if service else "", counters=(1, 2), ahead=3,
                wait_text="khoảng 10–20 phút", wait_note="", issued_at=issued, timezone=cfg.timezone,
                priority_name="Người cao tuổi", url=public_url(c, "0" * 22, "http://127.0.0.1/"),
                footer=cfg.ticket_footer)
            offload.run(drivers.ticket_bytes, p, sample)
    timings["render_ms"] = (time.monotonic() - t0) * 1000
    t0 = time.monotonic()
    hosts = {(k.printer.host, k.printer.port) for s in cfg.sites.values() for k in s.kiosks
             if k.printer.driver == "network" and k.printer.host}
    offload.run(_resolve, sorted(hosts))  # on a native thread, as a print's own write runs
    timings["resolve_ms"] = (time.monotonic() - t0) * 1000
    return {k: round(v, 1) for k, v in timings.items()}


def _resolve(hosts: list[tuple[str, int]]) -> None:
    import contextlib
    import socket

    for host, port in hosts:
        # A printer whose name does not resolve fails on its first ticket, with its own message.
        with contextlib.suppress(OSError):
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def start_warm_up(c: Any) -> None:
    """`warm_up` in the background at worker start: the worker answers at once (the heavy steps run on
    offload threads); a tap that comes during it waits only for what is still loading."""
    import logging

    log = logging.getLogger(__name__)

    def run() -> None:
        try:
            log.info("printing warmed up: %s", warm_up(c))
        except Exception:  # noqa: BLE001 - a failed warm-up only leaves the first ticket slower
            log.exception("printing warm-up failed")

    threading.Thread(target=run, name="print-warm-up", daemon=True).start()
