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
from ..storage.outbox import SyncRefused
from ..web.request import bearer_token, center, json_route
from . import manifest, nodes
from .protocol import decode, sender_offset

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
    data = request.get_data(cache=False)
    try:
        batch, fields = offload.run(decode, data)  # inflating and parsing a catch-up batch: off the event loop
    except SyncRefused as e:
        raise Invalid("Gói dữ liệu không đọc được", str(e), code="bad_batch") from None
    now = c.engine.clock()
    offset = sender_offset(fields, now)
    try:
        with c.store.write() as conn:
            result = nodes.receive(conn, c.config, node, batch, via="link", size=len(data), now=now,
                                   clock_offset_s=offset, version=str(fields.get("version") or ""))
    except SyncRefused as e:
        log.warning("refused a batch of node %s: %s", node.id, e)
        raise QueueError("Điểm tại chỗ gửi dữ liệu không thuộc về nó", str(e), code="sync_refused",
                         status=403) from None
    if result["written"]:
        c.engine.records_arrived(set(node.sites))
    return jsonify({**result, "server_time": to_iso(c.engine.clock()), "manifest_hash": _manifest_hash(node)})


@bp.get("/manifest")
@json_route
def get_manifest() -> Any:
    node = _node()
    c = center()
    with c.store.read() as conn:
        body = manifest.build(c.config, conn, node)
    return jsonify({**body, "server_time": to_iso(c.engine.clock())})
