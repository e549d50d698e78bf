"""The hub's web app: centers push their batches (the same protocol as a node to its center), province staff
read the panel and the reports. A plain threaded server (no Socket.IO: the pages poll); each thread keeps one
PostgreSQL connection between requests (`connection()`, checked with a ping before it is used again)."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from ..contract.booking import key_id
from ..errors import Invalid, QueueError, Unauthorized
from ..queue.clock import to_iso
from ..storage.outbox import BadShape, SyncRefused
from ..sync.protocol import decode, digest, sender_offset
from ..sync.receive import held_answer, read_body, refusal
from . import booking, booking_schema, ingest, rollup, summary
from .config import HubConfig

log = logging.getLogger(__name__)
bp = Blueprint("hub_sync", __name__)


def hub_config() -> HubConfig:
    return current_app.extensions["xephang_hub"]


def connection() -> contextlib.AbstractContextManager[Any]:
    """A connection for this request (autocommit; each write opens its own transaction)."""
    return connection_for(hub_config())


def _bearer() -> str | None:
    header = request.headers.get("Authorization", "")
    return header[7:].strip() if header[:7].lower() == "bearer " else None


def _store_labels(conn: Any, center: str, labels: Any, now: datetime) -> None:
    """Keep what the center said of itself; when its targets or levels changed, its summary is rebuilt."""
    if not isinstance(labels, dict) or not isinstance(labels.get("hash"), str):
        raise Invalid("Nhãn không hợp lệ", "malformed labels", code="bad_batch")
    with conn.transaction():
        old = conn.execute("SELECT hash FROM hub_labels WHERE center = %s FOR UPDATE", (center,)).fetchone()
        if old and old[0] == labels["hash"]:
            return
        conn.execute("INSERT INTO hub_labels (center, hash, labels, at) VALUES (%s, %s, %s, %s) ON CONFLICT (center) "
                     "DO UPDATE SET hash = excluded.hash, labels = excluded.labels, at = excluded.at",
                     (center, labels["hash"], json.dumps(labels, ensure_ascii=False), now))
        days = [r[0] for r in conn.execute("SELECT DISTINCT service_day FROM tickets WHERE center = %s", (center,))]
        summary.rebuild(conn, center, days)


@bp.post("/sync/push")
def push() -> Any:
    cfg = hub_config()
    now = datetime.now(UTC)
    with connection() as conn:
        center = ingest.center_for_token(conn, cfg, _bearer())
        if center is None:
            raise Unauthorized("Mã của trung tâm không hợp lệ hoặc đã bị thu hồi", "Invalid or revoked center token",
                               code="bad_center_token")
        data = read_body()  # bounded, like everything after it: a hostile body costs a few MB (protocol.py)
        try:
            batch, fields = decode(data)
        except SyncRefused as e:
            raise refusal(e) from None
        offset = sender_offset(fields, now)
        try:
            if "labels" in fields:
                _store_labels(conn, center.id, fields["labels"], now)
            if "booking_plan" in fields:
                booking.store_plan(conn, center.id, fields["booking_plan"], now)
            result = ingest.receive(conn, cfg, center, batch, size=len(data), now=now, clock_offset_s=offset,
                                    version=str(fields.get("version") or ""), digest=digest(data))
        except BadShape as e:
            log.warning("refused a batch of center %s: %s", center.id, e)
            raise refusal(e) from None
        except SyncRefused as e:
            log.warning("refused a batch of center %s: %s", center.id, e)
            raise QueueError("Trung tâm gửi dữ liệu không thuộc về mình", str(e), code="sync_refused",
                             status=403) from None
        have = conn.execute("SELECT hash FROM hub_labels WHERE center = %s", (center.id,)).fetchone()
        down = _bookings_down(conn, center.id, fields.get("bookings_mark"))
        plan = booking.plan_hash(conn, center.id)
        held_total = conn.execute("SELECT count(*) FROM hub_held WHERE center = %s", (center.id,)).fetchone()[0]
    held = result.pop("held")
    answer = {**result, **down, "held_total": held_total, "server_time": to_iso(datetime.now(UTC)),
              "labels_hash": have[0] if have else None, "booking_plan_hash": plan}
    key = booking_schema.pepper(cfg).decode()
    if "phone_key_id" in fields and fields["phone_key_id"] != key_id(key):
        answer["phone_key"] = key  # the province's: a citizen's number hashes alike at every desk and here
    if held:
        log.warning("held %d record(s) of center %s: %s", len(held), center.id, held[0].describe())
        return jsonify({**held_answer(held, center.name or center.id), **answer}), 422
    return jsonify(answer)


def _bookings_down(conn: Any, center: str, mark: Any) -> dict[str, Any]:
    """Bookings made at the hub flow down in the push's answer: those changed past the center's mark (a center
    that sends no mark is one that keeps no bookings, and gets none). Up, a center sends its booking plan (what
    its slots' places are counted from, center/hub/booking.py) when the answer's `booking_plan_hash` differs
    from its own, as it does its labels."""
    if not isinstance(mark, int) or isinstance(mark, bool) or mark < 0:
        return {}
    booking.purge_if_due(conn, datetime.now(UTC))
    rows, new_mark = booking.down(conn, center, mark)
    return {"bookings": rows, "bookings_mark": new_mark}


@bp.get("/api/health")
def health() -> Any:
    with connection() as conn:
        conn.execute("SELECT 1")
    return jsonify({"ok": True, "hub": hub_config().name})


def create_hub_app(cfg: HubConfig) -> Flask:
    app = Flask(__name__, template_folder="templates", static_folder="static", static_url_path="/hub-static")
    app.config.update(MAX_CONTENT_LENGTH=256 * 1024, JSON_SORT_KEYS=False)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.extensions["xephang_hub"] = cfg
    with connection_for(cfg) as conn:
        ingest.ensure_schema(conn)
    app.extensions["xephang_hub_rollup"] = rollup.Refresher(
        lambda: connection_for(cfg), lambda: datetime.now(cfg.tz).date(),
        float(os.environ.get("XEPHANG_HUB_ROLLUP_S", "60"))).start()
    app.register_blueprint(bp)
    from . import booking_pages
    from .pages import register

    register(app)
    booking_pages.register(app)

    @app.after_request
    def security_headers(resp: Any) -> Any:
        """One set for every page of the hub (province pages, the public booking page); /sync/ is a center's
        link, not a browser."""
        if request.path.startswith("/sync/"):
            return resp
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        # A citizen's booking page sends nowhere who they are; the province pages only to themselves.
        resp.headers.setdefault("Referrer-Policy", "no-referrer" if request.path.startswith("/dat-lich")
                                else "same-origin")
        resp.headers.setdefault("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; "
                                "style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        if resp.mimetype == "text/html" or request.path.startswith("/dat-lich"):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    from ..queue.clock import vn_date, vn_datetime
    from ..reports.labels import fmt_duration
    from .pages import lang

    # Dates in Vietnamese order and durations as the center's reports write them, on every hub page
    # ({{ day | vn_date }}, {{ moment | vn_datetime }}, {{ seconds | duration }}); ISO stays in the JSON API.
    app.add_template_filter(lambda d, weekday=False: vn_date(d, weekday=weekday, lang=lang(), tz=cfg.tz), "vn_date")
    app.add_template_filter(lambda m, seconds=False: vn_datetime(m, cfg.tz, seconds=seconds), "vn_datetime")
    app.add_template_filter(fmt_duration, "duration")

    @app.errorhandler(QueueError)
    def queue_error(e: QueueError) -> Any:
        if _wants_page():
            return error_page(e)
        resp = jsonify(e.to_dict())
        resp.status_code = e.status
        return resp

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException) -> Any:
        vi, en = _HTTP_TEXT.get(e.code or 500, (e.name, e.description or e.name))
        return queue_error(QueueError(vi, en, code=(e.name or "error").lower().replace(" ", "_"), status=e.code or 500))

    @app.errorhandler(Exception)
    def unexpected(e: Exception) -> Any:
        log.exception("unexpected error")
        return queue_error(QueueError("Có lỗi hệ thống; vui lòng thử lại", "Internal error; try again",
                                      code="internal", status=503 if "psycopg" in type(e).__module__ else 500))

    return app


# Vietnamese first for the errors werkzeug raises (its own text is English only).
_HTTP_TEXT = {400: ("Yêu cầu không hợp lệ", "Bad request"),
              404: ("Không tìm thấy trang hoặc dữ liệu này", "This page or record does not exist"),
              405: ("Địa chỉ này không nhận yêu cầu kiểu này", "Method not allowed here"),
              413: ("Dữ liệu gửi lên quá lớn", "Request too large")}


def _wants_page() -> bool:
    """A browser asking for a page gets a page; an API client (JSON or */*), a center's /sync/ link and the
    JSON routes (/hub/api/, /api/) get the JSON error."""
    if request.path.startswith(("/sync/", "/hub/api/", "/api/")):
        return False
    accept = request.accept_mimetypes
    return accept["text/html"] > accept["application/json"]


def error_page(e: QueueError) -> Any:
    """The error as a page in the reader's language, with the way back (the panel, or the booking page)."""
    from flask import render_template

    from .pages import _tr, lang

    booking_side = request.path.startswith("/dat-lich")
    try:
        return render_template("hub/error.html", e=e, tr=_tr, lang=lang(), hub=hub_config(),
                               booking_side=booking_side), e.status
    except Exception:  # noqa: BLE001 - the error page itself must never fail into a 500 without a body
        log.exception("error page failed")
        return f"{e.message} / {e.message_en}", e.status, {"Content-Type": "text/plain; charset=utf-8"}


_kept = threading.local()  # each thread's connection per database, between requests


@contextlib.contextmanager
def connection_for(cfg: HubConfig) -> Iterator[Any]:
    """This thread's connection to the hub's database, kept between requests: a new PostgreSQL backend for each
    request started with cold caches and planned every statement again, which cost more than a batch's own work
    (0.68 s against 1.10 s for a center's week of batches). It is checked with a ping when taken (made again
    after PostgreSQL restarted) and dropped if a request leaves it unusable; a nested use gets its own."""
    import psycopg

    kept: dict[str, Any] = _kept.__dict__.setdefault("conns", {})
    conn = kept.pop(cfg.dsn, None)  # taken: a nested use finds none and connects apart
    if conn is not None:
        try:
            if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                raise psycopg.InterfaceError("left inside a transaction")
            conn.execute("SELECT 1")
        except psycopg.Error:
            conn.close()
            conn = None
    if conn is None:
        conn = psycopg.connect(cfg.dsn, autocommit=True, connect_timeout=10)
    try:
        yield conn
    finally:
        if conn.closed or conn.broken or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE \
                or cfg.dsn in kept:
            conn.close()
        else:
            kept[cfg.dsn] = conn
