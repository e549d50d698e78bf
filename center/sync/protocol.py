"""The wire and bundle format of a batch: JSON, column-wise per table, compressed with zlib (level 9).

A bundle (`sync export`, carried on a USB stick) is the same batches in a file: one JSON header line naming each
part's size and SHA-256, then the parts, each within the bounds of one batch. Importing checks each part's checksum
before reading it.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Iterator
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
    fields = ("sent_at", "version", "exported_at", "clock_offset_s", "labels", "bookings_mark", "booking_plan",
              "phone_key_id")
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


def write_bundle(path: str, parts: list[bytes], header: dict[str, Any]) -> dict[str, Any]:
    """A bundle file: one JSON header line naming each part (an encoded batch, within the bounds of one) with its
    size and SHA-256, then the parts. Written owner-only (it carries the node's records, names of bookings among
    them), through a temporary file and fsync, so a stick pulled out mid-write leaves no half bundle."""
    from ..storage.secret import write_private

    header = {"magic": BUNDLE_MAGIC, "protocol": PROTOCOL, "format": 2, **header,
              "parts": [{"bytes": len(p), "sha256": hashlib.sha256(p).hexdigest()} for p in parts],
              "bytes": sum(len(p) for p in parts)}
    write_private(path, json.dumps(header, ensure_ascii=False).encode() + b"\n" + b"".join(parts))
    return header


MAX_HEADER = 1024 * 1024  # a bundle's header line (a part is ~100 bytes of it)


def read_bundle(path: str) -> tuple[dict[str, Any], Iterator[tuple[Batch, dict[str, Any]]]]:
    """(header, its batches one at a time with their sender fields) of a bundle file. Each part is read, its
    checksum verified and decoded only when its turn comes, within the bounds of one batch: a damaged or hostile
    file costs what one batch costs. A bundle of the first format (one payload) is read the same way."""
    f = open(path, "rb")  # noqa: SIM115 - closed by the generator, or below on a refusal
    try:
        head = f.readline(MAX_HEADER + 1)
        try:
            header = json.loads(head) if head.endswith(b"\n") else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            header = None
        if not isinstance(header, dict) or header.get("magic") != BUNDLE_MAGIC:
            raise SyncRefused(f"{path} is not a xephang bundle")
        parts = header.get("parts")
        if parts is None:  # format 1: the whole payload, its checksum in the header
            parts = [{"bytes": header.get("bytes"), "sha256": header.get("sha256")}]
        if not isinstance(parts, list) or not all(
                isinstance(p, dict) and isinstance(p.get("bytes"), int) and not isinstance(p.get("bytes"), bool)
                and 0 < p["bytes"] <= MAX_BODY and isinstance(p.get("sha256"), str) for p in parts):
            raise SyncRefused(f"{path}: its parts are not as a bundle's are (each at most {MAX_BODY} bytes)")
    except BaseException:
        f.close()
        raise

    def batches() -> Iterator[tuple[Batch, dict[str, Any]]]:
        with f:
            for n, part in enumerate(parts, 1):
                payload = f.read(part["bytes"])
                if len(payload) != part["bytes"] or hashlib.sha256(payload).hexdigest() != part["sha256"]:
                    raise SyncRefused(f"{path} is damaged (part {n} of {len(parts)}: checksum mismatch): copy it "
                                      "again from the node")
                yield decode(payload)

    return header, batches()
