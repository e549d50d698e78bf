"""The center's side of the link: `POST /sync/push` takes a node's batch, `GET /sync/manifest` gives it what
the center manages. Both need the node's token (`Authorization: Bearer xn_…`); a revoked token is refused
at once. Every answer carries the center's time (the node's clock is compared with it) and the hash of the
node's current manifest (the node fetches it when it differs)."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify, request

from .. import offload
from ..errors import Forbidden, Invalid, QueueError, Unauthorized
from ..queue.clock import to_iso
from ..storage.outbox import BadShape, BatchTooLarge, SyncRefused
from ..web.request import bearer_token, center, json_route
from . import manifest, nodes
from .protocol import MAX_BODY, decode, digest, sender_offset

log = logging.getLogger(__name__)
bp = Blueprint("sync", __name__, url_prefix="/sync")


def _node() -> Any:
    c = center()
    with c.store.read() as conn:
        node = nodes.node_for_token(conn, c.config, bearer_token())
    if node is None:
        raise Unauthorized("Mã của điểm tại chỗ không hợp lệ hoặc đã bị thu hồi",
                           "Invalid or revoked node token", code="bad_node_token")
    return node


def _manifest_hash(node: Any) -> str:
    c = center()
    with c.store.read() as conn:
        return manifest.build(c.config, conn, node)["hash"]


@bp.post("/push")
@json_route
def push() -> Any:
    node = _node()
    c = center()
    if c.config.upstream is not None and not c.config.nodes:
        raise Forbidden("Máy này là điểm tại chỗ, không nhận dữ liệu", "This server is a node", code="not_a_center")
    data = read_body()
    try:
        batch, fields = offload.run(decode, data)  # inflating and parsing a catch-up batch: off the event loop
    except SyncRefused as e:
        raise refusal(e) from None
    now = c.engine.clock()
    offset = sender_offset(fields, now)
    try:
        with c.store.write() as conn:
            result = nodes.receive(conn, c.config, node, batch, via="link", size=len(data), now=now,
                                   clock_offset_s=offset, version=str(fields.get("version") or ""),
                                   digest=digest(data))
            held_total = conn.execute("SELECT count(*) FROM sync_held WHERE node = ?", (node.id,)).fetchone()[0]
    except BadShape as e:
        log.warning("refused a batch of node %s: %s", node.id, e)
        raise refusal(e) from None
    except SyncRefused as e:
        log.warning("refused a batch of node %s: %s", node.id, e)
        raise QueueError("Điểm tại chỗ gửi dữ liệu không thuộc về nó", str(e), code="sync_refused",
                         status=403) from None
    if result["written"]:
        c.engine.records_arrived(set(node.sites))
    held = result.pop("held")
    answer = {**result, "held_total": held_total, "server_time": to_iso(c.engine.clock()),
              "manifest_hash": _manifest_hash(node)}
    if held:
        log.warning("held %d record(s) of node %s: %s", len(held), node.id, held[0].describe())
        return jsonify({**held_answer(held, node.name), **answer}), 422
    return jsonify(answer)


def read_body() -> bytes:
    """The request's body, never more than protocol's MAX_BODY read into memory (a chunked body has no length)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise QueueError("Gói dữ liệu quá lớn", f"Body too large (at most {MAX_BODY} bytes)", code="too_large",
                         status=413)
    data = request.stream.read(MAX_BODY + 1)
    # a chunked body stops at the app's limit (werkzeug's LimitedStream): one more read says whether it went on
    if len(data) > MAX_BODY or (len(data) == MAX_BODY and request.stream.read(1)):
        raise QueueError("Gói dữ liệu quá lớn", f"Body too large (at most {MAX_BODY} bytes)", code="too_large",
                         status=413)
    return data


def refusal(e: SyncRefused) -> QueueError:
    """What a sender is told of a batch that cannot be read: 413 past the bounds, 422 for its shape; nothing of it
    was applied, the mark did not move."""
    if isinstance(e, BatchTooLarge):
        return QueueError("Gói dữ liệu quá lớn", str(e), code="too_large", status=413)
    return Invalid("Gói dữ liệu không đọc được", str(e), code="bad_batch")


def held_answer(held: list[Any], place: str) -> dict[str, Any]:
    """A 422 for a batch that went through but for some rows, held at the receiver: which, and why (at most 20)."""
    return {"error": "records_refused", "held_count": len(held), "refused": [h.describe() for h in held[:20]],
            "message": f"Trung tâm đã nhận dữ liệu của {place}, trừ {len(held)} bản ghi không khớp với cấu hình "
                       "(đang được giữ lại chờ quản trị viên xử lý)",
            "message_en": f"The center took the records of {place} but {len(held)}, which do not match its "
                          f"configuration (held for IT): {held[0].tbl} {held[0].key!r}: {held[0].reason}"}


@bp.get("/manifest")
@json_route
def get_manifest() -> Any:
    node = _node()
    c = center()
    with c.store.read() as conn:
        body = manifest.build(c.config, conn, node)
    return jsonify({**body, "server_time": to_iso(c.engine.clock())})
