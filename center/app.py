"""The app factory: config, storage, engine, accounts, Socket.IO and every blueprint, wired once."""

from __future__ import annotations

import logging
import os
from datetime import timedelta
from typing import Any

from flask import Flask, jsonify, render_template, request, send_from_directory, session
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from . import housekeeping as housekeeping_loop
from .config.model import Config
from .errors import QueueError
from .output.fonts import FONT_DIR
from .queue.clock import Clock, system_clock
from .queue.engine import Engine
from .storage.secret import installation_secret
from .storage.store import Store, StoreError
from .sync.protocol import CONTENT_TYPE as SYNC_BATCH
from .web.auth import Accounts
from .web.realtime import attach, make_socketio, publisher
from .web.request import MAX_TEXT, Center, bearer_token, is_json_route, json_body, wants_json

log = logging.getLogger(__name__)
csrf = CSRFProtect()


def secret_key(db_path: str) -> str:
    """A per-installation random key kept beside the database (created once, mode 0600)."""
    return installation_secret(db_path)


def create_app(config: Config | str, db_path: str, *, clock: Clock = system_clock,
               message_queue: str | None = None, housekeeping: bool = True,
               secure_cookies: bool | None = None) -> Flask:
    if isinstance(config, str):
        from .sync.manifest import effective_config

        cfg = effective_config(config, db_path)  # a node's file names its center; the rest is its manifest
    else:
        cfg = config
    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.config.update(
        SECRET_KEY=secret_key(db_path),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=bool(secure_cookies if secure_cookies is not None
                                   else os.environ.get("XEPHANG_SECURE_COOKIES") == "1"),
        SESSION_COOKIE_NAME="xephang_session",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=10),
        MAX_CONTENT_LENGTH=256 * 1024,
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
        JSON_SORT_KEYS=False,
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    csrf.init_app(app)

    store = Store(db_path)
    socketio = make_socketio()
    engine = Engine(store, cfg, clock=clock, publish=publisher(socketio))
    c = Center(config=cfg, store=store, engine=engine, accounts=Accounts(store, clock), socketio=socketio)
    app.extensions["xephang"] = c

    from counter.views import bp as counter_bp
    from display.views import bp as display_bp
    from kiosk.views import bp as kiosk_bp
    from manager.views import bp as manager_bp

    from .sync.receive import bp as sync_bp
    from .sync.status import bp as sync_status_bp
    from .web.api import bp as api_bp
    from .web.pages import bp as pages_bp

    for bp in (api_bp, pages_bp, kiosk_bp, display_bp, counter_bp, manager_bp, sync_bp, sync_status_bp):
        app.register_blueprint(bp)

    @app.before_request
    def protect_cookie_sessions() -> None:
        """CSRF applies to requests that ride on the staff cookie; bearer-token calls carry no ambient credential."""
        if request.method in ("GET", "HEAD", "OPTIONS") or bearer_token() is not None:
            return
        if "uid" not in session and request.endpoint != "pages.login":
            return  # no cookie credential to ride on: the route itself answers 401
        csrf.protect()

    @app.after_request
    def security_headers(resp: Any) -> Any:
        if request.path.startswith("/sync/"):  # a node's link, not a browser: every byte counts on a mobile line
            return resp
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
        resp.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: data:; "
            "style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self' ws: wss:; "
            "font-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'")
        return resp

    @app.before_request
    def parse_json_bodies() -> None:
        """Every body sent to a JSON route goes through the one bounded parser, even where the route reads
        nothing from it: garbage is a 400 everywhere, never silently ignored."""
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and is_json_route() and request.mimetype != SYNC_BATCH:
            json_body()  # a sync batch is compressed, and read by its own bounded decoder (center/sync/protocol.py)

    @app.errorhandler(QueueError)
    def queue_error(e: QueueError) -> Any:
        if wants_json():
            resp = jsonify(_printable(e.to_dict()))
        else:
            resp = app.make_response(render_template("error.html", error=e))
        resp.status_code = e.status
        if "retry_after" in e.details:
            resp.headers["Retry-After"] = str(max(1, round(float(e.details["retry_after"]))))  # type: ignore[arg-type]
        return resp

    @app.errorhandler(CSRFError)
    def csrf_error(e: CSRFError) -> Any:
        err = QueueError("Phiên làm việc đã hết hạn, vui lòng tải lại trang", f"CSRF check failed: {e.description}",
                         code="csrf_failed", status=400)
        return queue_error(err)

    @app.errorhandler(StoreError)
    def store_error(e: StoreError) -> Any:
        log.error("database error: %s", e)
        text = str(e).lower()
        if "full" in text:
            err = QueueError("Ổ đĩa máy chủ đã đầy – chưa ghi được; vui lòng báo quản trị viên",
                             "The server's disk is full: nothing was recorded; tell the administrator",
                             code="disk_full", status=503)
        elif "readonly" in text or "read-only" in text:
            err = QueueError("Cơ sở dữ liệu đang ở chế độ chỉ đọc – chưa ghi được; vui lòng báo quản trị viên",
                             "The database is read-only: nothing was recorded; tell the administrator",
                             code="read_only", status=503)
        else:
            err = QueueError("Hệ thống đang bận, vui lòng thử lại sau giây lát",
                             "The database is busy or unavailable; try again", code="unavailable", status=503)
        return queue_error(err)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        messages = {404: "Không tìm thấy trang", 405: "Phương thức không được hỗ trợ",
                    413: "Yêu cầu quá lớn", 400: "Yêu cầu không hợp lệ"}
        err = QueueError(messages.get(e.code or 500, "Có lỗi xảy ra"), e.description or e.name,
                         code=(e.name or "error").lower().replace(" ", "_"), status=e.code or 500)
        resp = queue_error(err)
        for name, value in e.get_headers():
            if name == "Allow":  # a 405 says which methods the route takes (RFC 9110)
                resp.headers[name] = value
        return resp

    @app.errorhandler(OverflowError)
    def out_of_range(e: OverflowError) -> Any:
        # e.g. an id beyond SQLite's 64-bit integers: nothing can have it
        return queue_error(QueueError("Không tìm thấy", "No such id (number out of range)", code="not_found",
                                      status=404))

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Any:
        import sqlite3

        log.exception("unexpected error")
        if isinstance(e, sqlite3.OperationalError):
            return store_error(StoreError(str(e)))
        return queue_error(QueueError("Có lỗi hệ thống; thao tác chưa được thực hiện, vui lòng thử lại",
                                      "Internal error; the action was not carried out", code="internal",
                                      status=500))

    @app.get("/fonts/<path:name>")
    def fonts(name: str) -> Any:
        return send_from_directory(FONT_DIR, name, max_age=86400)

    from .output.fonts import FONT_URL
    from .web.i18n import current_lang, tr

    @app.context_processor
    def template_helpers() -> dict[str, Any]:
        from flask_wtf.csrf import generate_csrf

        return {"tr": tr, "lang": current_lang(), "csrf_token": generate_csrf, "font_url": FONT_URL,
                "max_text": MAX_TEXT,
                "center_name": cfg.center_name, "center_name_en": cfg.center_name_en,
                "center_timezone": cfg.timezone, "is_node": cfg.upstream is not None}

    from .queue.clock import vn_date, vn_datetime

    # Dates in Vietnamese order on every page ({{ day | vn_date }}, {{ moment | vn_datetime }}); ISO stays in the API.
    app.add_template_filter(lambda d, weekday=False: vn_date(d, weekday=weekday, lang=current_lang(), tz=cfg.tz),
                            "vn_date")
    app.add_template_filter(lambda m, seconds=False: vn_datetime(m, cfg.tz, seconds=seconds), "vn_datetime")

    @app.after_request
    def remember_lang(resp: Any) -> Any:
        if request.args.get("lang") in ("vi", "en"):
            resp.set_cookie("lang", request.args["lang"], max_age=365 * 86400, samesite="Lax")
        return resp

    attach(socketio, app, c, message_queue)
    if housekeeping:
        housekeeping_loop.start(engine)
        from .output.printing import start_warm_up

        start_warm_up(c)  # the first ticket after a start as fast as any other (fonts, printer profiles, pool)
        if cfg.outbound is not None:  # a node sends to its center, a center with [hub] to the province
            from .sync import link

            c.link = link.start(store, cfg, db_path, clock)
    return app


def _printable(value: Any) -> Any:
    """An error body that can always be written: a string that echoes input with a lone surrogate (which UTF-8
    cannot encode) gets U+FFFD in its place instead of failing the response."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if isinstance(value, dict):
        return {_printable(k): _printable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(v) for v in value]
    return value

