"""Socket.IO: rooms per site and per ticket, full state on connect and on request, events after commits.

A client connects with `auth={"site": S}` (plus `"token"` for a device or script, or its staff cookie
session) and is put in the room `site:S`; with `"ticket": <public id>` it follows one ticket. On connect
and on every `resync` it receives `state`, the whole queue state: a screen never depends on having
seen every event (events are lost when a message queue or a network link is down).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import session
from flask_socketio import ConnectionRefusedError, SocketIO, emit, join_room  # noqa: A004
from socketio import PubSubManager

from .auth import allowed
from .engine import Actor, Engine
from .events import Batcher, Event, PublicFanout, screens_room, site_room, ticket_room
from .offload import gevent_active
from .web import Center

log = logging.getLogger(__name__)


SOCKETIO_OPTIONS = dict(cors_allowed_origins=[], ping_interval=10, ping_timeout=10, max_http_buffer_size=64 * 1024,
                        logger=False, engineio_logger=False)


def make_socketio() -> SocketIO:
    """An unbound SocketIO; `attach` binds it. (Passing options here would build a server that
    init_app then replaces, losing the handlers registered on the first one.)"""
    return SocketIO()


def attach(socketio: SocketIO, app: Any, c: Center, message_queue: str | None) -> None:
    # async_mode is explicit, never guessed from what is installed: gevent in the production worker
    # (monkey-patched), threads in-process (tests, command line). See docs/architecture.md.
    socketio.init_app(app, message_queue=message_queue, async_mode="gevent" if gevent_active() else "threading",
                      **SOCKETIO_OPTIONS)
    register(socketio, c)


IDLE_WAIT_S = 0.005


def publisher(socketio: SocketIO, maxsize: int = 10_000, max_age_s: float = 10.0) -> Callable[[list[Event]], None]:
    """Events go out from one background greenlet (thread in-process): a slow or hung Redis, or a slow
    fan-out to hundreds of screens, never holds up the request that caused them. `Batcher` decides the
    order (calls first) and holds state snapshots briefly so that only the latest goes out. Signed-in
    screens get each event at once; the public gets it a chunk of clients at a time, with new events
    taken between chunks (`PublicFanout`), so that a call never waits behind a fan-out to hundreds of
    phones. An event older than `max_age_s` is dropped rather than announced late; screens resync."""
    pending: queue.Queue = queue.Queue(maxsize)
    batcher = Batcher()
    public = PublicFanout()

    def local_clients(room: str) -> list[str] | None:
        """The clients of a room when this process knows all of them (no message queue: with one, the
        other processes' clients are reached only through the queue, by room)."""
        manager = socketio.server.manager
        if isinstance(manager, PubSubManager):
            return None
        return [sid for sid, _eio in manager.get_participants("/", room)]

    def send(event: Event) -> None:
        """Signed-in screens and a ticket's follower now, the public in chunks; nothing is read or
        encoded for a room with nobody in it."""
        try:
            for room in event.rooms():
                clients = local_clients(room)
                if clients is None:
                    socketio.emit(event.name, event.payload, to=room)
                elif not clients:
                    continue
                elif room == site_room(event.site):
                    public.add(event, clients)
                else:
                    socketio.emit(event.name, event.payload, to=room)
        except Exception:  # noqa: BLE001 - keep publishing; screens resync on their own
            log.exception("publishing %s failed", event.name)

    if gevent_active():
        import gevent

        def yield_to_others() -> None:
            """Before the next chunk, let everything else that is ready run (requests, commits, the writers of
            this chunk), but never wait for an idle loop longer than IDLE_WAIT_S: a loop that stays busy must
            not hold up the next call."""
            with gevent.Timeout(IDLE_WAIT_S, False):
                gevent.idle()
    else:
        def yield_to_others() -> None:
            time.sleep(0)

    def run() -> None:
        while True:
            batch = []
            try:
                if public:
                    batch.append(pending.get_nowait())
                else:
                    batch.append(pending.get(timeout=batcher.wait_s(time.monotonic())))
                while True:
                    batch.append(pending.get_nowait())
            except queue.Empty:
                pass
            now = time.monotonic()
            for event in batcher.add([e for at, e in batch if now - at <= max_age_s], now):
                send(event)
            chunk = public.next_chunk()
            if chunk is not None:
                event, clients = chunk
                try:
                    socketio.emit(event.name, event.payload, to=clients)
                except Exception:  # noqa: BLE001
                    log.exception("publishing %s failed", event.name)
                if public:  # more chunks to send; otherwise the next get waits for events cooperatively
                    yield_to_others()

    threading.Thread(target=run, name="publisher", daemon=True).start()

    def publish(events: list[Event]) -> None:
        now = time.monotonic()
        for event in events:
            try:
                pending.put_nowait((now, event))
            except queue.Full:
                log.warning("event queue full: %s dropped (screens resync)", event.name)

    return publish


def register(socketio: SocketIO, c: Center) -> None:
    engine: Engine = c.engine

    def actor_for(auth: dict[str, Any]) -> Actor | None:
        token = auth.get("token")
        if isinstance(token, str) and token:
            return c.accounts.actor_for_token(token)
        uid = session.get("uid")
        return c.accounts.actor_for_user(uid) if uid else None

    def send_state(site: str, actor: Actor | None) -> None:
        emit("state", engine.queue_state(site, private=allowed(actor, "queue.detail")))

    @socketio.on("connect")
    def connect(auth: Any = None) -> bool:
        auth = auth if isinstance(auth, dict) else {}
        token = auth.get("token")
        actor = actor_for(auth)
        if token and actor is None:
            raise ConnectionRefusedError("bad_token")
        site = auth.get("site")
        public_id = auth.get("ticket")
        if site is not None and site not in c.config.sites:
            raise ConnectionRefusedError("unknown_site")
        if actor is not None and actor.site and site and actor.site != site:
            raise ConnectionRefusedError("wrong_site")
        if site is None and public_id is None:
            raise ConnectionRefusedError("site_required")
        session["sio_actor"] = actor
        session["sio_site"] = site
        if site:
            join_room(screens_room(site) if actor is not None else site_room(site))
            send_state(site, actor)
        if isinstance(public_id, str) and 0 < len(public_id) <= 64:
            try:
                ticket = engine.get_ticket_by_public_id(public_id)
            except Exception:  # noqa: BLE001
                raise ConnectionRefusedError("unknown_ticket") from None
            join_room(ticket_room(public_id))
            if not site:
                join_room(site_room(ticket["site"]))
                session["sio_site"] = ticket["site"]
            emit("ticket.updated", ticket)
        return True

    @socketio.on("resync")
    def resync(_data: Any = None) -> None:
        """Read-only: the client asks for the whole state again (after a reconnect, or on a timer)."""
        site = session.get("sio_site")
        if site:
            send_state(site, session.get("sio_actor"))

    @socketio.on_error_default
    def on_error(e: Exception) -> None:
        log.warning("socket.io handler error: %s", e)
