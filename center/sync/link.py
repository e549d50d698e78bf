"""The node's side of the link: a loop in the server that sends its records to the center as soon as they are
committed (a pass a second while there is news, a heartbeat every HEARTBEAT_S otherwise), fetches the
manifest when the center says it changed, and measures its clock against the center's at every contact.

Exactly once: the node moves its mark (`sync_link.acked`) only to what the center answered, after the
center committed. A cut link, a stalled one (timeouts), a node killed mid-batch: the next pass sends again
from the mark and the center's upsert makes the repeat harmless. A center that lost records (restored from
a backup) answers with its older mark, and the node sends again from there.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from .. import offload
from ..config.model import Config
from ..contract.booking import key_id
from ..queue.clock import Clock, from_iso, service_day, system_clock, to_iso
from ..storage import outbox
from ..storage.outbox import BatchTooLarge
from ..storage.secret import booking_key, keep_booking_key
from ..storage.store import Store
from . import labels, manifest
from .protocol import CONTENT_TYPE, encode

log = logging.getLogger(__name__)

VERSION = "0.1.0"
PASS_S = float(os.environ.get("XEPHANG_SYNC_PASS_S", "1"))
# Idle, a node says it is alive every 30 s: the center calls it silent after 120 s, and a mobile line pays for
# each contact (~0.9 KB with headers: 2.6 MB a day at 30 s, against 9.4 MB at 10 s; BENCHMARKS.md, "Sync").
HEARTBEAT_S = float(os.environ.get("XEPHANG_SYNC_HEARTBEAT_S", "30"))
BACKOFF_MAX_S = float(os.environ.get("XEPHANG_SYNC_BACKOFF_MAX_S", "30"))
CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = float(os.environ.get("XEPHANG_SYNC_READ_TIMEOUT_S", "20"))  # a stalled link: tests set less
# Outbox positions per batch: the center applies a batch in one write, during which its own calls wait. 1,000
# positions took ~23 ms there and a call's p99 rose from 8 to 33 ms during a LAN catch-up (BENCHMARKS.md).
BATCH_POSITIONS = int(os.environ.get("XEPHANG_SYNC_BATCH_POSITIONS", "250"))
# A center's booking plan for the hub (issue 17) is rebuilt at most this often, and at a new day: the walk-ins'
# waits it carries read only past days, only the measured handling time moves within a day.
PLAN_S = float(os.environ.get("XEPHANG_SYNC_PLAN_S", "3600"))


class LinkError(RuntimeError):
    """The upstream could not be reached or refused (the message says which)."""


class NotJoined(LinkError):
    """This database has no token or no link yet: `sync join` has not run (or not finished)."""


def token_path(db_path: str, config: Config) -> Path:
    """Where this server keeps its token for where it sends: a node's for its center, a center's for the hub."""
    target = config.outbound
    assert target is not None
    if target.token_file:
        return Path(target.token_file)
    return Path(db_path).with_suffix(".node-token" if config.upstream else ".hub-token")


def save_token(path: Path, token: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token.strip() + "\n")


def session_for(ca_file: str = "") -> Any:
    import requests

    s = requests.Session()
    s.trust_env = False  # the center is on the LAN or behind the recipe's nginx: no system proxy in between
    if ca_file:
        s.verify = ca_file  # a center certified by the province's own authority
    return s


def request(url: str, token: str, *, method: str = "GET", body: bytes | None = None,
            session: Any = None) -> tuple[dict[str, Any], float, float]:
    """One call to the upstream: (JSON answer, time sent, time answered) by this machine's clock in seconds.
    LinkError on a cut, a stall past the timeouts, or a refusal (with the center's message)."""
    import requests

    s = session or session_for()
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if body is not None:
        headers["Content-Type"] = CONTENT_TYPE
    t0 = time.time()
    try:
        resp = s.request(method, url, data=body, headers=headers, timeout=(CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
    except requests.RequestException as e:
        raise LinkError(f"link down: {type(e).__name__}: {e}") from None
    t1 = time.time()
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        raise LinkError(f"the center answered HTTP {resp.status_code} without JSON")
    if resp.status_code == 422 and answer.get("error") == "records_refused" and isinstance(answer.get("hwm"), int):
        return answer, t0, t1  # taken, but for rows the upstream holds back: the caller records what it said
    if resp.status_code >= 400:
        err = LinkError(f"refused ({resp.status_code} {answer.get('error')}): {answer.get('message_en') or answer}")
        err.status = resp.status_code  # type: ignore[attr-defined]
        err.message_vi = str(answer.get("message") or "")  # type: ignore[attr-defined]
        err.message_en = str(answer.get("message_en") or "")  # type: ignore[attr-defined]
        raise err
    return answer, t0, t1


class Link:
    """The node's sync loop and its state (`sync_link`)."""

    def __init__(self, store: Store, config: Config, db_path: str, *, clock: Clock = system_clock,
                 on_reload: Any = None):
        target = config.outbound
        assert target is not None
        self.store, self.config, self.db_path, self.clock = store, config, db_path, clock
        self.url = target.url
        self.node = target.node  # this place's name there: the node's id at its center, the center's at the hub
        self.on_reload = on_reload
        self._session = session_for(target.ca_file)
        # A center tells the hub its names and targets (center/sync/labels.py) until the hub has them.
        self._labels = labels.build(config) if config.hub is not None else None
        self._labels_wanted = True
        # ...and its booking plan (center/queue/bookings.py `booking_plan`) whenever the hub holds another hash.
        self._plan: dict[str, Any] | None = None
        self._plan_at: datetime | None = None
        self._plan_days: tuple[str, ...] = ()
        self._hub_plan_hash: str | None = None
        self._stop = threading.Event()

    def token(self) -> str:
        path = token_path(self.db_path, self.config)
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            raise NotJoined(f"no node token at {path}: run `sync join`") from None

    def state(self) -> dict[str, Any]:
        with self.store.read() as conn:
            row = conn.execute("SELECT node, acked, last_ok_at, last_try_at, last_error, clock_offset_s, "
                               "manifest_hash, manifest_at FROM sync_link").fetchone()
            state = dict(row) if row else {}
            state["pending"] = outbox.pending(conn, state.get("acked", 0)) if row else 0
            if self.config.upstream is not None:  # what the node's staff screens say, for `sync status` too
                from .status import node_link

                seen = node_link(conn, self.config, self.clock(), self.db_path) or {}
                state.update(refused=seen.get("refused"), usb_only=seen.get("usb_only"),
                             banners=seen.get("banners", []))
        return state

    def _offset(self, t0: float, t1: float, server_time: str) -> float:
        """This clock minus the center's, the request's travel time split in two."""
        mid = self.clock().timestamp() - (time.time() - (t0 + t1) / 2)
        return round(mid - from_iso(server_time).timestamp(), 1)

    def booking_plan(self) -> dict[str, Any] | None:
        """A center's booking plan for the hub (None: no hub, bookings off), built again after PLAN_S or when a
        site's service day changed; kept otherwise (the hub gets it only when its hash differs)."""
        if self.config.hub is None or not self.config.booking.enabled:
            return None
        now = self.clock()
        days = tuple(service_day(now, s, self.config.tz) for s in self.config.sites.values())
        if (self._plan_at is None or days != self._plan_days
                or abs((now - self._plan_at).total_seconds()) >= PLAN_S):
            from ..queue.bookings import Planner

            self._plan_at, self._plan_days = now, days
            try:
                with self.store.read() as conn:
                    self._plan = Planner(self.config, self.clock).booking_plan(conn)
            except Exception:
                self._plan_at = now - timedelta(seconds=max(0.0, PLAN_S - 60))  # tried again in a minute
                raise
        return self._plan

    def push_once(self) -> dict[str, Any]:
        """Send one batch (possibly empty: a heartbeat) and record the answer. Returns the answer."""
        token = self.token()
        with self.store.read() as conn:
            link = conn.execute("SELECT acked, clock_offset_s FROM sync_link").fetchone()
            # A center gets the bookings made at the hub past its mark in the answer (issue 17).
            mark = conn.execute("SELECT bookings_mark FROM sync_link").fetchone() if self.config.hub else None
        if link is None:
            raise NotJoined("this database has not joined yet: run `sync join` (the token on standard input)")
        acked, offset = int(link[0]), link[1]
        try:
            plan = offload.run(self.booking_plan) if self.config.hub is not None else None
        except Exception:  # noqa: BLE001 - the records go up all the same; the hub keeps the plan it has
            log.exception("sync: building the booking plan failed")
            plan = None
        send_plan = plan is not None and plan["hash"] != self._hub_plan_hash

        def build() -> tuple[outbox.Batch, bytes]:
            limit = BATCH_POSITIONS
            while True:
                with self.store.connection() as conn:
                    batch = outbox.collect(conn, self.node, acked, limit)
                extra = {"sent_at": to_iso(self.clock()), "version": VERSION, "clock_offset_s": offset}
                if self._labels is not None and self._labels_wanted:
                    extra["labels"] = self._labels
                if mark is not None:
                    extra["bookings_mark"] = int(mark[0] or 0)
                if self.config.hub is not None:  # the hub answers with its phone key when ours is another
                    extra["phone_key_id"] = key_id(booking_key(self.db_path))
                if send_plan:
                    extra["booking_plan"] = plan
                try:
                    return batch, encode(batch, extra)
                except BatchTooLarge:  # past what the receiver takes: fewer positions (one always fits)
                    if limit <= 1:
                        raise
                    limit = max(1, limit // 2)

        batch, body = offload.run(build)  # compressing a catch-up batch takes tens of ms: not on the event loop
        now = self.clock()
        try:
            answer, t0, t1 = request(f"{self.url}/sync/push", token, method="POST", body=body,
                                     session=self._session)
        except LinkError as e:
            status = getattr(e, "status", None)
            with self.store.write() as conn:
                conn.execute("UPDATE sync_link SET last_try_at = ?, last_error = ?", (to_iso(now), str(e)[:500]))
                if status is not None and 400 <= status < 500 and status not in (401, 429):
                    # the upstream refuses the batch itself: staff and `sync status` say so until one passes
                    conn.execute("UPDATE sync_link SET refused_at = ?, refused = ?",
                                 (to_iso(now), json.dumps({"status": status, "message": e.message_vi,
                                                           "message_en": e.message_en, "records": batch.records(),
                                                           "whole": True}, ensure_ascii=False)))
            raise
        offset = self._offset(t0, t1, answer["server_time"])
        if self._labels is not None:
            self._labels_wanted = answer.get("labels_hash") != self._labels["hash"]
        if plan is not None:
            hub_hash = answer.get("booking_plan_hash")
            self._hub_plan_hash = hub_hash if isinstance(hub_hash, str) else None
        with self.store.write() as conn:
            conn.execute("UPDATE sync_link SET acked = ?, last_ok_at = ?, last_try_at = ?, last_error = NULL, "
                         "clock_offset_s = ?", (int(answer["hwm"]), to_iso(self.clock()), to_iso(now), offset))
            if answer.get("error") == "records_refused":  # the rest went through; these wait at the upstream
                conn.execute("UPDATE sync_link SET refused_at = ?, refused = ?", (to_iso(now), json.dumps(
                    {"status": 422, "message": answer.get("message"), "message_en": answer.get("message_en"),
                     "records": answer.get("held_count"), "whole": False}, ensure_ascii=False)))
            elif not answer.get("held_total"):  # nothing of this place waits at the upstream any more
                conn.execute("UPDATE sync_link SET refused_at = NULL, refused = NULL")
            outbox.prune(conn, int(answer["hwm"]))
            if mark is not None and isinstance(answer.get("bookings"), list):
                self._bookings_down(conn, answer)
        if isinstance(answer.get("phone_key"), str) and answer["phone_key"]:
            keep_booking_key(self.db_path, answer.pop("phone_key"))
        answer["records"] = batch.records()
        answer["bytes"] = len(body)
        answer["clock_offset_s"] = offset
        answer["booking_plan_sent"] = send_plan
        with self.store.read() as conn:
            have = conn.execute("SELECT manifest_hash FROM sync_link").fetchone()[0]
        if answer.get("manifest_hash") and answer["manifest_hash"] != have:
            self.pull_manifest()
        return answer

    @staticmethod
    def _bookings_down(conn: Any, answer: dict[str, Any]) -> None:
        """Bookings made (or cancelled) at the hub, kept with the hub's new mark in the caller's one write: a
        crash between the two cannot lose one, and one taken twice is upserted (center/queue/bookings.py)."""
        if answer["bookings"]:
            from ..queue.bookings import receive_from_hub

            receive_from_hub(conn, answer["bookings"])
        conn.execute("UPDATE sync_link SET bookings_mark = ?", (int(answer.get("bookings_mark") or 0),))
        answer["bookings_received"] = len(answer["bookings"])
        del answer["bookings"]

    def pull_manifest(self) -> bool:
        """Fetch and keep the center's manifest; reload the server if its configuration changed."""
        body, _, _ = request(f"{self.url}/sync/manifest", self.token(), session=self._session)
        changed = receive_manifest(self.store, body, self.clock())
        if changed and self.on_reload is not None:
            self.on_reload()
        return changed

    def sync(self, max_passes: int = 10_000) -> int:
        """Push until nothing is pending (or `max_passes`). Returns the records sent."""
        sent = 0
        for _ in range(max_passes):
            answer = self.push_once()
            sent += answer["records"]
            if not answer.get("gap") and self.state()["pending"] == 0:
                break
        return sent

    def run(self) -> None:
        """The loop: a pass whenever there is news (checked every PASS_S), a heartbeat every HEARTBEAT_S,
        backing off on errors up to BACKOFF_MAX_S. Never raises.

        A server started before `sync join` does not back off: it looks for the token every second (a file read)
        and sends as soon as the join is done, instead of up to BACKOFF_MAX_S later."""
        delay = PASS_S
        last = 0.0
        told = False
        while not self._stop.is_set():
            try:
                if self.state()["pending"] or time.monotonic() - last >= HEARTBEAT_S:
                    last = time.monotonic()
                    self.sync(max_passes=50)
                delay = PASS_S
            except NotJoined as e:
                if not told:
                    log.warning("sync: %s", e)
                    told = True
                delay, last = max(PASS_S, 1.0), 0.0
            except LinkError as e:
                log.warning("sync: %s", e)
                delay = min(BACKOFF_MAX_S, max(2 * delay, 2.0))
                last = 0.0
            except Exception:  # noqa: BLE001 - keep the loop alive; the next pass retries
                log.exception("sync pass failed")
                delay = min(BACKOFF_MAX_S, max(2 * delay, 2.0))
            self._stop.wait(delay)

    def stop(self) -> None:
        self._stop.set()


def receive_manifest(store: Store, body: dict[str, Any], now: datetime) -> bool:
    """Keep a manifest that came by the link or in a file (inside one write). Returns whether the
    configuration changed."""
    for key in ("config", "node", "sites", "block", "users", "hash"):
        if key not in body:
            raise LinkError(f"the manifest lacks {key!r}")
    if isinstance(body.get("phone_key"), str) and body["phone_key"]:
        keep_booking_key(store.path, body["phone_key"])  # beside the database, owner-only; never in it
    body = {k: body[k] for k in ("config", "node", "name", "sites", "block", "users", "hash") if k in body}
    with store.write() as conn:
        outbox.link(conn, body["node"], int(body["block"]))
        return manifest.apply(conn, body, now)


def start(store: Store, config: Config, db_path: str, clock: Clock = system_clock) -> Link | None:
    """Run the link on a daemon thread in the one process of this server that holds the node's lock file
    (with several workers, only one sends)."""
    lock_path = Path(db_path).with_suffix(".sync.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    link = Link(store, config, db_path, clock=clock, on_reload=reload_server)
    threading.Thread(target=link.run, name="sync-link", daemon=True).start()
    return link


def reload_server() -> None:
    """Ask gunicorn's master to start fresh workers, which read the new manifest (a graceful restart:
    screens reconnect by themselves). Outside gunicorn the change applies at the next start."""
    master = os.environ.get("XEPHANG_MASTER_PID")
    if master:
        with contextlib.suppress(OSError):
            os.kill(int(master), signal.SIGHUP)
