"""The wire and bundle format of a batch: JSON, column-wise per table, compressed with zlib (level 9).

A bundle (`sync export`, carried on a USB stick) is the same payload in a file: one JSON header line with the
payload's SHA-256, then the compressed payload. Importing checks the checksum before reading anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from typing import Any

from ..storage.outbox import Batch, SyncRefused

PROTOCOL = 1
CONTENT_TYPE = "application/x-xephang-batch"
BUNDLE_MAGIC = "xephang-bundle"
MAX_PAYLOAD = 64 * 1024 * 1024  # inflated: a week of a busy point is ~6 MB
CLOCK_TOLERANCE_S = 120.0  # past this a node's clock is reported, and its records flagged


def encode(batch: Batch, extra: dict[str, Any] | None = None) -> bytes:
    body = {"protocol": PROTOCOL, **(extra or {}), **batch.to_dict()}
    return zlib.compress(json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode(), 9)


def decode(data: bytes) -> tuple[Batch, dict[str, Any]]:
    """The batch and the sender's other fields (`sent_at`, `version`, a center's `bookings_mark` and
    `booking_plan` at the hub).
    SyncRefused for anything unreadable."""
    try:
        d = zlib.decompressobj()
        raw = d.decompress(data, MAX_PAYLOAD)
        if d.unconsumed_tail:
            raise SyncRefused("batch too large")
        body = json.loads(raw)
    except (zlib.error, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
        raise SyncRefused(f"unreadable batch: {e}") from None
    if not isinstance(body, dict) or body.get("protocol") != PROTOCOL:
        raise SyncRefused(f"unknown protocol version {body.get('protocol') if isinstance(body, dict) else None!r}")
    fields = ("sent_at", "version", "exported_at", "clock_offset_s", "labels", "bookings_mark", "booking_plan")
    return Batch.from_dict(body), {k: body[k] for k in fields if k in body}


def sender_offset(fields: dict[str, Any], now: Any) -> float | None:
    """The sender's clock minus ours: as it measured it at its last contact (travel time halved), else from
    the time it says it sent the batch (off by the travel time; enough to see minutes)."""
    offset = fields.get("clock_offset_s")
    if isinstance(offset, int | float) and not isinstance(offset, bool):
        return float(offset)
    try:
        from ..queue.clock import from_iso

        return round((from_iso(str(fields.get("sent_at"))) - now).total_seconds(), 1)
    except (TypeError, ValueError):
        return None


def write_bundle(path: str, batch: Batch, extra: dict[str, Any]) -> dict[str, Any]:
    payload = encode(batch, extra)
    header = {"magic": BUNDLE_MAGIC, "protocol": PROTOCOL, "node": batch.node, "after": batch.after,
              "to": batch.to, "records": batch.records(), "bytes": len(payload),
              "sha256": hashlib.sha256(payload).hexdigest(), **extra}
    tmp = f"{path}.part"
    with open(tmp, "wb") as f:
        f.write(json.dumps(header, ensure_ascii=False).encode() + b"\n" + payload)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    return header


def read_bundle(path: str) -> tuple[dict[str, Any], Batch, dict[str, Any]]:
    """(header, batch, sender fields) of a bundle file, its checksum verified."""
    with open(path, "rb") as f:
        data = f.read()
    head, sep, payload = data.partition(b"\n")
    try:
        header = json.loads(head) if sep else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("magic") != BUNDLE_MAGIC:
        raise SyncRefused(f"{path} is not a xephang bundle")
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        raise SyncRefused(f"{path} is damaged (checksum mismatch): copy it again from the node")
    batch, fields = decode(payload)
    return header, batch, fields
