"""Manager pages: live overview, reports with export and print, staffing advice, administration.

Pages need a signed-in manager or admin (anonymous → the sign-in page; other roles → 403); the JSON
endpoints under /manager/api/ answer 401/403 as JSON. Figures come from center.reports.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from center import offload
from center import reports as center_reports
from center.errors import MAX_NAME, Conflict, Forbidden, Invalid, QueueError, clean_text
from center.queue.actors import Actor
from center.queue.clock import from_iso, to_iso, vn_date, vn_datetime
from center.storage import audit, settings
from center.sync import status as sync_status
from center.sync.protocol import CLOCK_TOLERANCE_S
from center.web.auth import DEVICE_ROLES, USER_ROLES, allowed, generate_password
from center.web.i18n import ROLE_NAMES, current_lang, role_name, tr
from center.web.pages import signed_in
from center.web.request import center, current_actor, require, wants_json
from printer_drivers.drivers import MESSAGES as PRINT_MESSAGES

bp = Blueprint("manager", __name__, template_folder="templates", static_folder="static",
               static_url_path="/manager/static")


bp.add_app_template_filter(center_reports.fmt_duration, "duration")
bp.add_app_template_global(role_name, "role_name")


@bp.app_template_filter("local_time")
def local_time(iso: str | None) -> str:
    """A stored UTC time as the center's local "HH:MM:SS DD/MM/YYYY" (vn_datetime: the one rule for dates)."""
    if not iso:
        return "—"
    try:
        moment = from_iso(iso)
    except ValueError:
        return iso
    return vn_datetime(moment, center().config.tz, seconds=True)


@bp.app_template_global("period_text")
def period_text(d0: str, d1: str) -> str:
    """A report's days as its heading says them: "07/12/2026", or "01/12/2026 – 07/12/2026" (ISO in the API)."""
    return vn_date(d0) if d0 == d1 else f"{vn_date(d0)} – {vn_date(d1)}"


def _export_heading(rep: dict[str, Any]) -> list[str]:
    """The first lines of a CSV or XLSX export: what, where, which days and when it was made, as the screen
    writes them (the data columns below keep ISO days for spreadsheets)."""
    c, f = center().config, rep["filters"]
    site = c.sites.get(f["site"]) if f.get("site") else None
    where = tr(site.name, site.name_en) if site else tr("Tất cả điểm tiếp nhận", "All sites")
    made = vn_datetime(rep["generated_at"], c.tz)
    return [tr("Báo cáo tình hình tiếp nhận và phục vụ công dân", "Reception and service of citizens report"),
            f"{tr(c.center_name, c.center_name_en)} · {where}",
            f"{tr('Thời gian', 'Period')}: {period_text(f['date_from'], f['date_to'])}",
            f"{tr('Lập lúc', 'Generated at')} {made} ({c.timezone})"]


@bp.errorhandler(QueueError)
def _queue_error(e: QueueError) -> Any:
    if wants_json():
        return jsonify(e.to_dict()), e.status
    return render_template("error.html", error=e, actor=_maybe_actor()), e.status


def _maybe_actor() -> Actor | None:
    try:
        return current_actor()
    except QueueError:
        return None


def page(permission: str) -> Actor:
    """The signed-in caller of a page, allowed `permission`."""
    actor = signed_in()
    if not allowed(actor, permission):
        raise Forbidden("Bạn không có quyền xem trang này", f"Role {actor.role} may not open this page")
    return actor


def _today(site: str | None = None) -> str:
    c = center()
    code = site if site in c.config.sites else next(iter(c.config.sites))
    return c.engine.today(c.config.sites[code])


def _site_arg() -> str:
    c = center()
    site = request.args.get("site") or next(iter(c.config.sites))
    if site not in c.config.sites:
        raise Invalid(f"Không có điểm tiếp nhận '{site}'", f"Unknown site '{site}'", code="unknown_site")
    return site


def _audit(actor: Actor, action: str, target: str, detail: dict[str, Any] | None = None) -> None:
    with center().store.write() as conn:
        audit.record(conn, to_iso(center().engine.clock()), actor.name, actor.role, action, target, detail)


# ---------------------------------------------------------------------- live overview


def _overview(site: str) -> dict[str, Any]:
    """The live overview, with the node that serves the site (if any) and every node's alerts."""
    c = center()
    state = center_reports.live_overview(c.engine, site)
    with c.store.read() as conn:
        state["node"], alerts = sync_status.overview_extras(conn, c.config, site, c.engine.clock())
    state["alerts"] += alerts
    return state


@bp.get("/manager/")
def overview() -> Any:
    actor = page("reports.read")
    site = _site_arg()
    return render_template("manager/overview.html", actor=actor, config=center().config, site=site,
                           state=_overview(site))


@bp.get("/manager/api/overview")
def overview_json() -> Any:
    require("reports.read")
    return jsonify(_overview(_site_arg()))


@bp.get("/manager/api/nodes")
def nodes_json() -> Any:
    """The "Places" panel of the overview: each node's last contact, records, bundles, clock and token."""
    require("reports.read")
    c = center()
    with c.store.read() as conn:
        return jsonify(sync_status.center_nodes(conn, c.config, c.engine.clock()))


# ---------------------------------------------------------------------- reports


def _filters() -> center_reports.Filters:
    f = center_reports.Filters.parse(request.args, today=_today(request.args.get("site")))
    c = center().config
    if f.site and f.site not in c.sites:
        raise Invalid(f"Không có điểm tiếp nhận '{f.site}'", f"Unknown site '{f.site}'", code="unknown_site")
    if f.service and f.service not in c.services:
        raise Invalid(f"Không có dịch vụ '{f.service}'", f"Unknown service '{f.service}'", code="unknown_service")
    return f


def _report(f: center_reports.Filters) -> dict[str, Any]:
    """The report, built on a native thread: a year of data must not freeze the screens (center/offload.py)."""
    store, config, lang = center().store, center().config, current_lang()

    def build() -> dict[str, Any]:
        if not f.procedure and center_reports.uses_rollups(f):  # the missing or stale daily roll-ups of past days
            center_reports.ensure_rollups(store, config, f.date_from, f.date_to, site=f.site,
                                          batch_days=offload.BATCH_DAYS)
        with store.read() as conn:
            out = center_reports.report(conn, config, f, lang)
            flagged = center_reports.clock_flag(conn, config, f, CLOCK_TOLERANCE_S)
        if flagged:  # only then: a report without node records keeps exactly its figures
            out["clock_flag"] = flagged
        return out

    return offload.run(build)


def _choices() -> dict[str, Any]:
    c = center()
    procedures = [(p.code, tr(p.name, p.name_en)) for sv in c.config.services.values() for p in sv.procedures]
    with c.store.read() as conn:
        staff = [r[0] for r in conn.execute("SELECT username FROM users ORDER BY username")]
    counters = [(k.id, k.name) for s in c.config.sites.values() for k in s.counters]
    return {"sites": [(s.code, tr(s.name, s.name_en)) for s in c.config.sites.values()],
            "services": [(s.code, tr(s.name, s.name_en)) for s in c.config.services.values()],
            "procedures": procedures, "counters": counters, "staff": staff,
            "groups": [("none", tr("Không nhóm", "No grouping")), ("site", tr("Điểm tiếp nhận", "Site")),
                       ("service", tr("Dịch vụ", "Service")), ("procedure", tr("Thủ tục", "Procedure")),
                       ("counter", tr("Quầy", "Counter")), ("staff", tr("Cán bộ", "Staff member")),
                       ("hour", tr("Giờ trong ngày", "Hour of day")), ("weekday", tr("Thứ trong tuần", "Weekday")),
                       ("day", tr("Ngày", "Day"))]}


@bp.get("/manager/reports")
def reports() -> Any:
    actor = page("reports.read")
    f = _filters()
    rep = _report(f)
    query = {k: v for k, v in request.args.items() if v}
    return render_template("manager/reports.html", actor=actor, rep=rep, f=f, choices=_choices(), query=query,
                           weekdays=(center_reports.WEEKDAYS_EN if current_lang() == "en"
                                     else center_reports.WEEKDAYS_VI))


@bp.get("/manager/api/report")
def report_json() -> Any:
    require("reports.read")
    return jsonify(_report(_filters()))


def _export_name(f: center_reports.Filters, ext: str) -> str:
    return f"bao-cao_{f.site or 'tat-ca'}_{f.date_from}_{f.date_to}_{f.group}.{ext}"


@bp.get("/manager/reports.csv")
def report_csv() -> Any:
    require("reports.read")
    f = _filters()
    rep = _report(f)
    body = center_reports.to_csv(rep, current_lang(), heading=_export_heading(rep))
    return Response(body, content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{_export_name(f, "csv")}"'})


@bp.get("/manager/reports.xlsx")
def report_xlsx() -> Any:
    require("reports.read")
    f = _filters()
    rep = _report(f)
    body = center_reports.to_xlsx(rep, current_lang(), heading=_export_heading(rep))
    return Response(body, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{_export_name(f, "xlsx")}"'})


@bp.get("/manager/reports/print")
def report_print() -> Any:
    """A print-ready daily (period=day&date=) or monthly (period=month&month=YYYY-MM) report."""
    actor = page("reports.read")
    period = request.args.get("period", "day")
    site = _site_arg() if request.args.get("site") else None  # an unknown site is a 422, not a broken page
    today = _today(site)
    try:
        if period == "month":
            month = request.args.get("month") or today[:7]
            first = date.fromisoformat(month + "-01")
            last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
            d0, d1 = first.isoformat(), last.isoformat()
        else:
            period = "day"
            d0 = d1 = date.fromisoformat(request.args.get("date") or today).isoformat()
    except ValueError:
        raise Invalid("Ngày không hợp lệ", "Bad date", code="bad_date") from None
    sections = {}
    for group in ("service", "counter", "staff", "hour") + (("day",) if period == "month" else ()):
        f = center_reports.Filters(d0, d1, site=site, group=group)
        sections[group] = _report(f)
    return render_template("manager/print.html", actor=actor, period=period, d0=d0, d1=d1, site=site,
                           sections=sections, rep=sections["service"], config=center().config)


# ---------------------------------------------------------------------- staffing


def _staffing() -> dict[str, Any]:
    f = _filters()
    try:
        target_sl = float(request.args.get("target_sl") or 0.8)
        twm = (request.args.get("target_wait_min") or "").strip()
        target_wait = float(twm) if twm else None
    except ValueError:
        raise Invalid("Giá trị mục tiêu không phải là số", "The target is not a number", code="bad_target") from None
    center_reports.check_staffing_targets(target_sl, target_wait)  # refused here, before the work goes to a pool thread
    store, config, now = center().store, center().config, center().engine.clock()

    def build() -> dict[str, Any]:
        with store.read() as conn:
            return center_reports.staffing(conn, config, f, target_sl=target_sl, target_wait_min=target_wait, now=now)

    return offload.run(build)


@bp.get("/manager/staffing")
def staffing() -> Any:
    actor = page("reports.read")
    adv = _staffing()
    return render_template("manager/staffing.html", actor=actor, adv=adv, choices=_choices(),
                           query={k: v for k, v in request.args.items() if v})


@bp.get("/manager/api/staffing")
def staffing_json() -> Any:
    require("reports.read")
    return jsonify(_staffing())


# ---------------------------------------------------------------------- administration


def _form(name: str) -> str:
    return (request.form.get(name) or "").strip()


@bp.route("/manager/admin/users", methods=["GET", "POST"])
def admin_users() -> Any:
    actor = page("admin.users")
    accounts = center().accounts
    message = error = None
    shown_password = None
    if request.method == "POST":
        action, username = _form("action"), _form("username")
        try:
            if action == "add":
                password = _form("password") or generate_password()
                accounts.add_user(username, _form("role"), password,
                                  clean_text(_form("display_name"), "display_name", limit=MAX_NAME) or None)
                shown_password = None if _form("password") else password
                message = tr(f"Đã thêm tài khoản {username}", f"Account {username} added")
            elif action in ("disable", "enable"):
                if username == actor.name:
                    raise Invalid("Không thể tự khóa tài khoản của mình", "You cannot disable yourself",
                                  code="self")
                accounts.update_user(username, active=action == "enable")
                message = tr(f"Đã {'mở' if action == 'enable' else 'khóa'} tài khoản {username}",
                             f"Account {username} {'enabled' if action == 'enable' else 'disabled'}")
            elif action == "role":
                if username == actor.name:
                    raise Invalid("Không thể tự đổi vai trò của mình", "You cannot change your own role",
                                  code="self")
                accounts.update_user(username, role=_form("role"))
                message = tr(f"Đã đổi vai trò của {username}", f"Role of {username} changed")
            elif action == "reset":
                password = _form("password") or generate_password()
                accounts.set_password(username, password)
                shown_password = None if _form("password") else password
                message = tr(f"Đã đặt lại mật khẩu cho {username}", f"Password of {username} reset")
            else:
                raise Invalid("Thao tác không hợp lệ", "Unknown action", code="bad_action")
            _audit(actor, f"user.{action}", username, {"role": _form("role")} if _form("role") else None)
        except QueueError as e:
            error = e
    return render_template("manager/admin_users.html", actor=actor, users=accounts.users(), roles=USER_ROLES,
                           message=message, error=error, shown_password=shown_password), (
        error.status if error else 200)


@bp.route("/manager/admin/devices", methods=["GET", "POST"])
def admin_devices() -> Any:
    actor = page("admin.devices")
    c = center()
    message = error = None
    new_token = None
    if request.method == "POST":
        action = _form("action")
        try:
            if action == "create":
                site = _form("site")
                if site not in c.config.sites:
                    raise Invalid("Hãy chọn điểm tiếp nhận", "Choose a site", code="unknown_site")
                name = _form("name")
                known = c.config.devices()
                if name not in known:
                    raise Invalid(f"Không có thiết bị «{name[:64]}» trong config.toml (kiosk hoặc màn hình)",
                                  f"No kiosk or display {name[:64]!r} in config.toml", code="unknown_device")
                if known[name] != (_form("role"), site):
                    role, at = known[name]
                    kind = "kiosk" if role == "kiosk" else "màn hình chờ"
                    raise Invalid(f"{name} là {kind} của {c.config.sites[at].name}", f"{name} is a {role} at site {at}",
                                  code="wrong_device_role_or_site")
                if (node := c.config.node_of_site(site)) is not None:  # the node hands out its own (one history)
                    raise Conflict(f"{c.config.sites[site].name} do máy tại chỗ '{node.name}' phục vụ: tạo mã thiết "
                                   "bị trên máy đó", f"{site} is served by node '{node.id}': create its device "
                                   "tokens on the node's own server", code="served_by_node")
                new_token = c.accounts.create_token(device=name, role=_form("role"), site=site)
                message = tr(f"Đã tạo mã cho thiết bị {name}", f"Token created for device {name}")
                _audit(actor, "token.create", name, {"role": _form("role"), "site": site})
            elif action == "revoke":
                try:
                    token_id = int(_form("id"))
                except ValueError:
                    raise Invalid("Mã không hợp lệ", "Bad token id", code="bad_token_id") from None
                c.accounts.revoke_token(token_id)
                message = tr("Đã thu hồi mã truy cập", "Token revoked")
                _audit(actor, "token.revoke", str(token_id))
            else:
                raise Invalid("Thao tác không hợp lệ", "Unknown action", code="bad_action")
        except QueueError as e:
            error = e
    devices = [(name, role, site) for name, (role, site) in c.config.devices().items()
               if c.config.node_of_site(site) is None]
    return render_template("manager/admin_devices.html", actor=actor, tokens=c.accounts.tokens(),
                           roles=DEVICE_ROLES, sites=c.config.sites, devices=devices, message=message, error=error,
                           new_token=new_token), (error.status if error else 200)


@bp.route("/manager/admin/counters", methods=["GET", "POST"])
def admin_counters() -> Any:
    """Which services each counter serves today: stored in settings, read by the engine."""
    actor = page("admin.settings")
    c = center()
    message = error = None
    if request.method == "POST":
        try:
            counter = c.engine.counter(_form("counter"))
            offered = c.config.sites[counter.site].services
            chosen = [s for s in request.form.getlist("services") if s in offered]
            if len(chosen) != len(request.form.getlist("services")):
                raise Invalid("Dịch vụ không có tại điểm này", "A service is not offered at this site",
                              code="unknown_service")
            # Keep the counter's preference order for services it had; new ones after, in form order.
            order = {s: i for i, s in enumerate(counter.services)}
            chosen.sort(key=lambda s: order.get(s, len(order)))
            with c.store.write() as conn:
                settings.set_counter_services(conn, counter.id, None if _form("action") == "reset" else chosen,
                                              to_iso(c.engine.clock()), actor.name)
            _audit(actor, "counter.services", counter.id, {"services": chosen if _form("action") != "reset" else None})
            message = tr(f"Đã lưu dịch vụ của {counter.name}", f"Services of {counter.name} saved")
        except QueueError as e:
            error = e
    counters = []
    for site in c.config.sites.values():
        for k in site.counters:
            counters.append({"counter": k, "site": site, "today": c.engine.counter_services(k),
                             "overridden": tuple(c.engine.counter_services(k)) != tuple(k.services)})
    return render_template("manager/admin_counters.html", actor=actor, counters=counters,
                           services=c.config.services, message=message, error=error), (error.status if error else 200)


@bp.get("/manager/admin/")
def admin_index() -> Any:
    actor = signed_in()
    if not (allowed(actor, "admin.devices") or allowed(actor, "admin.users")):
        raise Forbidden("Bạn không có quyền xem trang này", "Not allowed")
    return render_template("manager/admin_index.html", actor=actor, can_users=allowed(actor, "admin.users"),
                           config=center().config)





# ---------------------------------------------------------------------- audit log


@bp.get("/manager/audit")
def audit_page() -> Any:
    """Who did what, when: the entries of GET /api/audit (drawn by audit.js) for one local day, by site and staff."""
    from datetime import datetime, time

    actor = page("reports.read")
    c = center()
    site = request.args.get("site") or ""
    if site and site not in c.config.sites:
        raise Invalid(f"Không có điểm tiếp nhận '{site}'", f"Unknown site '{site}'", code="unknown_site")
    staff = (request.args.get("staff") or "").strip()[:64]
    try:
        today = c.engine.clock().astimezone(c.config.tz).date().isoformat()
        day = date.fromisoformat(request.args.get("date") or today)
    except ValueError:
        raise Invalid("Ngày không hợp lệ", "Bad date", code="bad_date") from None
    start = datetime.combine(day, time(0), tzinfo=c.config.tz)
    with c.store.read() as conn:
        users = [r[0] for r in conn.execute("SELECT username FROM users ORDER BY username")]
    counters = {k.id: k.name for s in c.config.sites.values() for k in s.counters}
    kiosks = {k.id: k.name for s in c.config.sites.values() for k in s.kiosks}
    names = {"counters": counters, "kiosks": kiosks,
             "sites": {s.code: tr(s.name, s.name_en) for s in c.config.sites.values()},
             "services": {s.code: tr(s.name, s.name_en) for s in c.config.services.values()},
             "procedures": {p.code: tr(p.name, p.name_en) for s in c.config.services.values() for p in s.procedures},
             "groups": {g.code: tr(g.name, g.name_en) for g in c.config.priority_groups},
             "roles": {r: role_name(r) for r in ROLE_NAMES},
             "print_errors": {code: tr(vi, en) for code, (vi, en) in PRINT_MESSAGES.items()}}
    return render_template("manager/audit.html", actor=actor, site=site, staff=staff, day=day.isoformat(),
                           since=to_iso(start), until=to_iso(start + timedelta(days=1) - timedelta(milliseconds=1)),
                           sites=[(s.code, tr(s.name, s.name_en)) for s in c.config.sites.values()], users=users,
                           names=names, timezone=c.config.timezone)


from . import voice as _voice  # noqa: E402, F401 - registers the voice pack pages on bp (manager/voice.py)
