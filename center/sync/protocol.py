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

from ..storage.outbox import Batch, BatchTooLarge, SyncRefused

PROTOCOL = 1
CONTENT_TYPE = "application/x-xephang-batch"
BUNDLE_MAGIC = "xephang-bundle"
CLOCK_TOLERANCE_S = 120.0  # past this a node's clock is reported, and its records flagged
# The bounds of one batch, on the link and in each part of a bundle; a sender splits its batch until it fits. A
# 250-position catch-up batch is ~10-40 KB sent, ~0.1-0.5 MB inflated, ~20,000 values (BENCHMARKS.md, "Sync").
# Checked in this order, each before the next costs anything: a hostile body costs a few MB, never more.
MAX_BODY = 256 * 1024  # bytes sent (the servers' request limit too)
MAX_INFLATED = 4 * 1024 * 1024  # bytes once inflated, checked while inflating
MAX_VALUES = 250_000  # JSON values, counted on the inflated bytes before any Python object is built


def encode(batch: Batch, extra: dict[str, Any] | None = None) -> bytes:
    """The batch on the wire; BatchTooLarge past what a receiver takes (the sender then sends fewer positions)."""
    body = {"protocol": PROTOCOL, **(extra or {}), **batch.to_dict()}
    raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
    if len(raw) > MAX_INFLATED or _values(raw) > MAX_VALUES:
        raise BatchTooLarge(f"{len(raw)} bytes, {_values(raw)} values inflated")
    data = zlib.compress(raw, 9)
    if len(data) > MAX_BODY:
        raise BatchTooLarge(f"{len(data)} bytes compressed")
    return data


def _values(raw: bytes) -> int:
    """An upper bound on the JSON values in `raw`: every value but the first follows a comma, a colon or an opening
    bracket (those inside strings count too, which only overestimates). C-speed, allocation-free."""
    return raw.count(b",") + raw.count(b":") + raw.count(b"[") + raw.count(b"{") + 1


def inflate(data: bytes) -> bytes:
    """zlib data inflated, at most MAX_INFLATED bytes of it, checked while inflating (a 58 KB bomb stops at the
    bound, not at the gigabytes it holds)."""
    if len(data) > MAX_BODY:
        raise BatchTooLarge(f"{len(data)} bytes sent (at most {MAX_BODY})")
    try:
        d = zlib.decompressobj()
        raw = d.decompress(data, MAX_INFLATED)
        if d.unconsumed_tail or (not d.eof and d.decompress(b"", 1)):
            raise BatchTooLarge(f"more than {MAX_INFLATED} bytes once inflated")
    except zlib.error as e:
        raise SyncRefused(f"unreadable batch: {e}") from None
    if not d.eof:
        raise SyncRefused("unreadable batch: the compressed data is cut short")
    return raw


def decode(data: bytes) -> tuple[Batch, dict[str, Any]]:
    """The batch and the sender's other fields (`sent_at`, `version`, a center's `bookings_mark` and
    `booking_plan` at the hub). BatchTooLarge past the bounds, SyncRefused for anything else unreadable; the
    shapes are checked (Batch.from_dict) before anything is built from them."""
    raw = inflate(data)
    if (n := _values(raw)) > MAX_VALUES:
        raise BatchTooLarge(f"{n} values in one batch (at most {MAX_VALUES})")
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise SyncRefused(f"unreadable batch: {type(e).__name__}: {str(e)[:200]}") from None
    if not isinstance(body, dict) or body.get("protocol") != PROTOCOL:
        raise SyncRefused(f"unknown protocol version {body.get('protocol') if isinstance(body, dict) else None!r}")
    fields = ("sent_at", "version", "exported_at", "clock_offset_s", "labels", "bookings_mark", "booking_plan")
    return Batch.from_dict(body), {k: body[k] for k in fields if k in body}


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def digest(data: bytes) -> str:
    """A batch's identity as received: the same bytes sent again are a replay (center/sync/nodes.py)."""
    return hashlib.sha256(data).hexdigest()


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
