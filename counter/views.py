"""Counter workstation, the counter-top display above the desk, and the citizen's rating pad.

- /counter/<id>          staff page (signed-in staff; every action goes through the JSON API)
- /counter/<id>/me       JSON: the signed-in staff member's figures for today, priority tickets waiting,
                         kiosk printers that fail (so staff know why a citizen has no paper ticket)
- /counter/<id>/top      public read-only: counter number, number being served, "Mời số ..." on a call
- /counter/<id>/rating   public rating pad; GET .../rating/pending and POST .../rating (see center/queue/ratings.py)
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, jsonify, render_template

from center.errors import Forbidden
from center.output.printing import printer_problems
from center.queue.actors import PAUSE_LABELS, PAUSE_REASONS
from center.queue.clock import from_iso
from center.queue.events import Event
from center.queue.ratings import pending, record, staff_summary
from center.web.auth import allowed
from center.web.pages import signed_in
from center.web.request import center, field, json_body, json_route, require

bp = Blueprint("counter", __name__, template_folder="templates", static_folder="static",
               static_url_path="/counter/static")




def _page_data(counter_id: str) -> dict[str, Any]:
    """Static facts the page needs (services with procedures, other counters), as JSON for the script."""
    c = center()
    counter = c.engine.counter(counter_id)
    site = c.config.sites[counter.site]
    services = []
    for code in site.services:
        sv = c.config.services[code]
        services.append({"code": sv.code, "name": sv.name, "name_en": sv.name_en,
                         "procedures": [{"code": p.code, "name": p.name, "name_en": p.name_en}
                                        for p in sv.procedures]})
    return {
        "counter": {"id": counter.id, "number": counter.number, "name": counter.name, "site": counter.site},
        "site": {"code": site.code, "name": site.name, "name_en": site.name_en},
        "services": services,
        "counters": [{"id": ct.id, "number": ct.number, "name": ct.name} for ct in site.counters],
        "no_show_confirm_s": c.config.rules.no_show_confirm_s,
        "pause_reasons": [{"code": r, "name": PAUSE_LABELS.get(r, (r, r))[0], "name_en": PAUSE_LABELS.get(r, (r, r))[1]}
                          for r in PAUSE_REASONS],
    }


def _name_rest(counter: Any) -> str:
    """The configured name without a leading "Quầy 1" / "Counter 1" the heading already shows
    ("Quầy 1 – Chứng thực" → "Chứng thực"), so the heading never says the number twice."""
    pattern = rf"^\s*(quầy|counter)\s*0*{counter.number}(?!\d)\s*[-–—:·,.]?\s*"
    return re.sub(pattern, "", counter.name, flags=re.IGNORECASE).strip()


@bp.get("/counter/<counter_id>")
def counter_page(counter_id: str) -> Any:
    c = center()
    counter = c.engine.counter(counter_id)  # 404 page for an unknown counter
    actor = signed_in()
    if not allowed(actor, "counter.operate"):
        raise Forbidden("Tài khoản này không được làm việc tại quầy", f"Role {actor.role} may not operate counters")
    return render_template("counter/counter.html", counter=counter, actor=actor, data=_page_data(counter_id),
                           name_rest=_name_rest(counter))


@bp.get("/counter/<counter_id>/me")
@json_route
def counter_me(counter_id: str) -> Any:
    """Today's figures of the caller at this counter's site, and the priority tickets waiting for the counter."""
    actor = require("counter.operate")
    c = center()
    counter = c.engine.counter(counter_id)
    site = c.config.sites[counter.site]
    now = c.engine.clock()
    day = c.engine.today(site, now)
    services = c.engine.counter_services(counter)
    marks = ",".join("?" * len(services))
    with c.store.read() as conn:
        mine = conn.execute(
            "SELECT sum(status = 'served') AS served, avg(CASE WHEN status = 'served' THEN service_s END) AS mean_s, "
            "sum(status = 'no_show') AS no_show, sum(status = 'transferred') AS transferred, "
            "avg(CASE WHEN status = 'served' THEN wait_s END) AS mean_wait_s "
            "FROM tickets WHERE staff = ? AND site = ? AND service_day = ?", (actor.name, site.code, day)).fetchone()
        procs = conn.execute(
            "SELECT p.procedure AS code, count(*) AS n, avg(p.seconds) AS mean_s FROM ticket_procedures p "
            "JOIN tickets t ON t.id = p.ticket_id WHERE p.staff = ? AND t.site = ? AND t.service_day = ? "
            "GROUP BY p.procedure ORDER BY n DESC", (actor.name, site.code, day)).fetchall()
        priority = conn.execute(
            "SELECT id, number, service, priority, queue_at, target_counter FROM tickets "
            "WHERE site = ? AND service_day = ? AND status = 'waiting' AND priority IS NOT NULL AND "
            f"(target_counter = ? OR (target_counter IS NULL AND service IN ({marks}))) "
            "ORDER BY queue_at, id LIMIT 20", (site.code, day, counter.id, *services)).fetchall()
        rated = staff_summary(conn, actor.name, site.code, day)
    printers = printer_problems(c, site.code)
    settings = center().config.rating
    satisfied = sum(n for code, n in rated.items() if (lv := settings.level(code)) and lv.satisfied)
    total_rated = sum(rated.values())
    groups = {g.code: g for g in c.config.priority_groups}
    return jsonify({
        "staff": actor.name,
        "service_day": day,
        "served": mine["served"] or 0,
        "mean_service_s": round(mine["mean_s"], 1) if mine["mean_s"] is not None else None,
        "mean_wait_s": round(mine["mean_wait_s"], 1) if mine["mean_wait_s"] is not None else None,
        "no_show": mine["no_show"] or 0,
        "transferred": mine["transferred"] or 0,
        "procedures": [{"code": p["code"], "count": p["n"], "mean_s": round(p["mean_s"], 1)} for p in procs],
        "ratings": {"count": total_rated, "satisfied": satisfied,
                    "satisfied_share": round(satisfied / total_rated, 3) if total_rated else None},
        "priority_waiting": [{
            "id": r["id"], "number": r["number"], "service": r["service"], "priority": r["priority"],
            "priority_name": groups[r["priority"]].name if r["priority"] in groups else r["priority"],
            "priority_name_en": groups[r["priority"]].name_en if r["priority"] in groups else r["priority"],
            "waiting_s": round((now - from_iso(r["queue_at"])).total_seconds()),
        } for r in priority],
        "printers": printers,
    })


@bp.get("/counter/<counter_id>/top")
def counter_top(counter_id: str) -> Any:
    counter = center().engine.counter(counter_id)
    return render_template("counter/top.html", counter=counter)


@bp.get("/counter/<counter_id>/rating")
def rating_page(counter_id: str) -> Any:
    counter = center().engine.counter(counter_id)
    return render_template("counter/rating.html", counter=counter, settings=center().config.rating.to_json())


@bp.get("/counter/<counter_id>/rating/pending")
@json_route
def rating_pending(counter_id: str) -> Any:
    c = center()
    counter = c.engine.counter(counter_id)
    return jsonify({"counter": counter.id,
                    "pending": pending(c.store, counter.id, c.engine.clock(), center().config.rating)})


@bp.post("/counter/<counter_id>/rating")
@json_route
def rating_post(counter_id: str) -> Any:
    c = center()
    counter = c.engine.counter(counter_id)
    data = json_body()
    result = record(c.store, counter.id, field(data, "ticket", int, required=True), data.get("level"),
                    data.get("reasons"), c.engine.clock(), center().config.rating)
    # The counter page refreshes its figures; no staff name or reasons go to the (public) site room.
    c.engine.publish([Event("rating.recorded", counter.site, {"ticket": result["ticket"], "counter": counter.id,
                                                              "level": result["level"],
                                                              "satisfied": result["satisfied"]})])
    return jsonify(result), 201
