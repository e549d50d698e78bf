"""The province's pages (issue 16): sign-in, the live panel and the reports, registered on the hub app.

Every route is guarded by `accounts.signed_in` and reads only `accounts.chosen_centers`: a center's manager
never gets another center's figures, whichever page, JSON or export they ask for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, redirect, render_template, request, send_file, session, url_for

from . import accounts, live, reports
from .accounts import HubUser, chosen_centers, hub_cfg, signed_in
from .names import center_names

bp = Blueprint("hub_pages", __name__)
CHART_JS = Path(__file__).resolve().parent.parent / "static" / "vendor" / "chart.umd.min.js"
XEPHANG_JS = Path(__file__).resolve().parent.parent / "static" / "js" / "live.js"


def lang() -> str:
    """?lang=en|vi switches and is remembered in the session; Vietnamese first."""
    asked = request.args.get("lang")
    if asked in ("vi", "en"):
        session["lang"] = asked
        return asked
    return "en" if session.get("lang") == "en" else "vi"


def _tr(vi: str, en: str) -> str:
    return en if lang() == "en" else vi


def _connection() -> Any:
    from .app import connection

    return connection()


def _safe_next(target: str | None) -> str:
    """Only a path of this site (no //host, no scheme): the sign-in form cannot send a user elsewhere."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("hub_pages.panel")


@bp.route("/hub/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        accounts.check_csrf()
        with _connection() as conn:
            user = accounts.authenticate(conn, request.form.get("username", "")[:64],
                                         request.form.get("password", "")[:256])
        if user is not None:
            keep = session.get("lang")
            session.clear()  # a new session on sign-in: no fixation
            session.update({"uid": user.id, "gen": user.session_gen, "lang": keep or "vi"})
            session.permanent = True
            return redirect(_safe_next(request.form.get("next")))
        error = _tr("Sai tên đăng nhập hoặc mật khẩu", "Wrong username or password")
    return render_template("hub/login.html", error=error, next=request.args.get("next", ""), tr=_tr,
                           lang=lang(), hub=hub_cfg(), csrf=accounts.csrf_token()), (401 if error else 200)


@bp.post("/hub/logout")
def logout() -> Any:
    accounts.check_csrf()
    session.clear()
    return redirect(url_for("hub_pages.panel"))  # whose guard (accounts.signed_in) sends the anonymous to sign in


def _page(template: str, user: HubUser, **kw: Any) -> str:
    with _connection() as conn:
        names = center_names(conn, hub_cfg().centers, lang() == "en")
    centers = [{"id": c.id, "name": names.get(c.id, c.name)} for c in accounts.visible_centers(hub_cfg(), user)]
    return render_template(template, user=user, tr=_tr, lang=lang(), hub=hub_cfg(), csrf=accounts.csrf_token(),
                           centers=centers, **kw)


@bp.get("/hub/")
@signed_in("page")
def panel(user: HubUser) -> Any:
    return _page("hub/live.html", user)


@bp.get("/hub/api/live")
@signed_in("json")
def live_json(user: HubUser) -> Any:
    centers = chosen_centers(hub_cfg(), user, request.args.get("center"))
    with _connection() as conn:
        return jsonify(live.live(conn, hub_cfg(), centers, lang=lang()))


def _report() -> tuple[reports.HubFilters, dict[str, Any]]:
    user = accounts.current_user()
    assert user is not None  # the route's guard ran first
    today = datetime.now(UTC).astimezone(hub_cfg().tz).date()
    with _connection() as conn:
        wanted = chosen_centers(hub_cfg(), user, request.args.get("center") or None)
        f = reports.HubFilters.parse(request.args, today.isoformat(), reports.default_range(conn, wanted, today))
        centers = chosen_centers(hub_cfg(), user, f.center)
        return f, reports.report(conn, hub_cfg(), centers, f, lang())


@bp.get("/hub/reports")
@signed_in("page")
def reports_page(user: HubUser) -> Any:
    f, rep = _report()
    with _connection() as conn:
        options = reports.filter_options(conn, accounts.visible_centers(hub_cfg(), user), lang())
    query = {k: v for k, v in request.args.items() if v and k != "lang"}
    return _page("hub/reports.html", user, f=f, rep=rep, sites=options["sites"], services=options["services"],
                 query=query,
                 groups=[("center", _tr("Trung tâm", "Center")), ("service", _tr("Dịch vụ", "Service")),
                         ("procedure", _tr("Thủ tục", "Procedure")), ("hour", _tr("Giờ trong ngày", "Hour of day")),
                         ("day", _tr("Ngày", "Day"))])


@bp.get("/hub/api/report")
@signed_in("json")
def report_json(user: HubUser) -> Any:
    return jsonify(_report()[1])


def _export_name(f: reports.HubFilters, ext: str) -> str:
    return f"bao-cao-tinh_{f.center or 'tat-ca'}_{f.date_from}_{f.date_to}_{f.group}.{ext}"


@bp.get("/hub/reports.csv")
@signed_in("json")
def report_csv(user: HubUser) -> Any:
    f, rep = _report()
    return Response(reports.to_csv(rep, lang()), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{_export_name(f, "csv")}"'})


@bp.get("/hub/reports.xlsx")
@signed_in("json")
def report_xlsx(user: HubUser) -> Any:
    f, rep = _report()
    return Response(reports.to_xlsx(rep, lang()),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{_export_name(f, "xlsx")}"'})


@bp.get("/hub/vendor/chart.umd.min.js")
def chart_js() -> Any:
    """The center's vendored Chart.js, served as is: the province works offline, and one copy stays in git."""
    return send_file(CHART_JS, mimetype="text/javascript", max_age=86400)


@bp.get("/hub/vendor/xephang.js")
def xephang_js() -> Any:
    """The center's own center/static/js/live.js: the hub's pages write times and dates with the same
    xephang.clockTime / dateTime / date (the center's zone from <meta name="timezone">, 24 h, 07/12/2026)."""
    return send_file(XEPHANG_JS, mimetype="text/javascript", max_age=3600)


@bp.get("/hub")
def hub_root() -> Any:
    return redirect(url_for("hub_pages.panel"))


def register(app: Flask) -> None:
    """Accounts table, session cookie, routes and security headers of the province pages."""
    from .app import connection_for

    cfg = app.extensions["xephang_hub"]
    with connection_for(cfg) as conn:
        accounts.ensure_users(conn)
    app.config.update(SECRET_KEY=accounts.secret_key(cfg), SESSION_COOKIE_NAME="xephang_hub",
                      SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Strict",
                      PERMANENT_SESSION_LIFETIME=timedelta(hours=12))
    app.register_blueprint(bp)
    app.add_url_rule("/", "hub_root", lambda: redirect(url_for("hub_pages.panel")))  # the address IT types

