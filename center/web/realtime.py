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
from dataclasses import dataclass, field
from typing import Any

from flask import request, session
from flask_socketio import ConnectionRefusedError, SocketIO, emit, join_room  # noqa: A004
from socketio import PubSubManager

from ..offload import gevent_active
from ..queue.actors import Actor
from ..queue.engine import Engine
from ..queue.events import Batcher, Event, PublicFanout, screens_room, site_room, ticket_room
from .auth import Credential, allowed
from .clients import client_address, cookie_allowed
from .request import Center

log = logging.getLogger(__name__)


# cors_allowed_origins=[]: engine.io sends no CORS headers (a page elsewhere cannot read long-polling answers) and
# leaves the origin to `connect`, which lets a token in from anywhere but the staff cookie only from the app's own
# origin or one named in [security] allowed_origins (center/web/clients.py).
# async_handlers=False: a client's events are handled in order inside its own read loop, not each in a new greenlet.
# A socket that floods is then stopped at its EVENT_BURST-th event (`spend` closes it and the loop reads no more);
# with a greenlet per event the loop read ~220,000 queued `resync` packets before the first handler ran, and a
# kiosk issue waited 4.8 s. No handler here waits on anything slow (resync answers from the public state cache).
SOCKETIO_OPTIONS = dict(cors_allowed_origins=[], ping_interval=10, ping_timeout=10, max_http_buffer_size=64 * 1024,
                        async_handlers=False, logger=False, engineio_logger=False)


def make_socketio() -> SocketIO:
    """An unbound SocketIO; `attach` binds it. (Passing options here would build a server that
    init_app then replaces, losing the handlers registered on the first one.)"""
    return SocketIO()


def attach(socketio: SocketIO, app: Any, c: Center, message_queue: str | None) -> None:
    # async_mode is explicit, never guessed from what is installed: gevent in the production worker
    # (monkey-patched), threads in-process (tests, command line). See docs/architecture.md.
    socketio.init_app(app, message_queue=message_queue, async_mode="gevent" if gevent_active() else "threading",
                      **SOCKETIO_OPTIONS)
    app.wsgi_app = handshake_guard(app.wsgi_app, c.config.security)  # type: ignore[method-assign]
    register(socketio, c)


def handshake_guard(wsgi_app: Callable[..., Any], security: Any) -> Callable[..., Any]:
    """New Socket.IO sessions per client address: a burst of `anonymous_sockets_per_address`, then
    HANDSHAKES_PER_S. Checked in front of engine.io, where a refusal costs next to nothing: a client that
    reconnects in a loop (after being dropped for flooding, say) was costing a WebSocket handshake and a
    `connect` handler each time. Requests of an open session (`sid=` in the query) pass."""
    buckets = Buckets(security.anonymous_sockets_per_address, HANDSHAKES_PER_S)

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if (environ.get("PATH_INFO", "").startswith("/socket.io") and "sid=" not in environ.get("QUERY_STRING", "")
                and not buckets.take(client_address(environ, security))):
            start_response("429 Too Many Requests", [("Content-Type", "text/plain"), ("Retry-After", "1")])
            return [b"too many new connections from this address"]
        return wsgi_app(environ, start_response)

    return guarded


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


RESYNC_EVERY_S = 2.0  # at most one `state` per client per 2 s; asks in between get one, at the end of the 2 s
EVENT_BURST = 20  # client → server packets a socket may send at once...
EVENT_PER_S = 1.0  # ...and then per second (a screen resyncs every 15–30 s); past that it is disconnected
PUBLIC_STATE_TTL_S = 1.0  # the public state is built once per site and change (and at most this old) for everyone
HANDSHAKES_PER_S = 2.0  # new Socket.IO sessions per client address, after a burst of the address's cap
SWEEP_S = 2.0  # how often the sockets of signed-in clients are checked against their account or token


class Bucket:
    """A token bucket: `take` spends one if there is one."""

    __slots__ = ("capacity", "per_s", "level", "at")

    def __init__(self, capacity: float, per_s: float):
        self.capacity, self.per_s = capacity, per_s
        self.level, self.at = capacity, time.monotonic()

    def take(self, now: float) -> bool:
        self.level = min(self.capacity, self.level + (now - self.at) * self.per_s)
        self.at = now
        if self.level < 1:
            return False
        self.level -= 1
        return True

    def full(self, now: float) -> bool:
        return self.level + (now - self.at) * self.per_s >= self.capacity


class Buckets:
    """A bucket per key (client address), forgetting full ones when there are many."""

    def __init__(self, capacity: float, per_s: float, keep: int = 4096):
        self.capacity, self.per_s, self.keep = capacity, per_s, keep
        self.buckets: dict[str, Bucket] = {}

    def take(self, key: str) -> bool:
        now = time.monotonic()
        bucket = self.buckets.get(key)
        if bucket is None:
            if len(self.buckets) >= self.keep:
                for k in [k for k, b in self.buckets.items() if b.full(now)]:
                    del self.buckets[k]
            bucket = self.buckets[key] = Bucket(self.capacity, self.per_s)
        return bucket.take(now)


@dataclass(eq=False)
class Client:
    """One connected socket: who it is, what it rests on, and what it has asked for lately."""

    sid: str
    site: str | None
    actor: Actor | None
    credential: Credential | None
    address: str | None  # anonymous clients only: counted against the address's cap
    last_state: float = 0.0
    pending: bool = False
    events: Bucket = field(default_factory=lambda: Bucket(EVENT_BURST, EVENT_PER_S))


def register(socketio: SocketIO, c: Center) -> None:
    engine: Engine = c.engine
    security = c.config.security
    clients: dict[str, Client] = {}
    anonymous_open: dict[str, int] = {}
    changes: dict[str, int] = {}  # per site: bumped by every published event (invalidates the public state)
    public_states: dict[str, tuple[int, float, dict[str, Any]]] = {}
    sweeping: list[bool] = []

    inner_publish = engine.publish

    def publish(events: list[Event]) -> None:
        for event in events:
            changes[event.site] = changes.get(event.site, 0) + 1
        inner_publish(events)

    engine.publish = publish

    def public_state(site: str) -> dict[str, Any]:
        """One build per site and change for every anonymous client: a crowd of phones (or a flood) costs
        the encoding of what it receives, not a database read each."""
        now = time.monotonic()
        version = changes.get(site, 0)
        cached = public_states.get(site)
        if cached and cached[0] == version and now - cached[1] < PUBLIC_STATE_TTL_S:
            return cached[2]
        state = engine.queue_state(site, private=False)
        public_states[site] = (version, now, state)
        return state

    def state_for(client: Client) -> dict[str, Any]:
        assert client.site is not None
        if allowed(client.actor, "queue.detail"):
            return engine.queue_state(client.site, private=True)
        return public_state(client.site)

    def still_valid(client: Client) -> bool:
        return client.credential is None or not c.accounts.ended([client.credential])

    def sweep() -> None:
        """Disconnect the sockets whose account or token ended (sign-out, password reset, role change,
        disabled, revoked), in this process or any other: the database says."""
        signed = [cl for cl in list(clients.values()) if cl.credential is not None]
        if not signed:
            return
        ended = c.accounts.ended({cl.credential for cl in signed if cl.credential is not None})
        for cl in signed:
            if cl.credential in ended and clients.get(cl.sid) is cl:
                log.info("socket %s: its session or token ended; disconnected", cl.sid)
                socketio.server.disconnect(cl.sid, namespace="/")

    def sweep_loop() -> None:
        while True:
            socketio.sleep(SWEEP_S)
            try:
                sweep()
            except Exception:  # noqa: BLE001 - the next pass retries
                log.exception("socket sweep failed")

    def who(auth: dict[str, Any]) -> tuple[Actor | None, Credential | None]:
        """A token from anywhere; the staff cookie only from a page of the app's own (or a configured) origin."""
        token = auth.get("token")
        if token:
            found = c.accounts.token_credential(token)
            if found is None:
                raise ConnectionRefusedError("bad_token")
            return found
        uid, gen = session.get("uid"), session.get("gen", -1)
        if isinstance(uid, int) and cookie_allowed(request.environ, security.allowed_origins):
            actor = c.accounts.actor_for_user(uid, gen)
            if actor is not None:
                return actor, Credential("user", uid, gen)
        return None, None

    def admit_anonymous(address: str) -> None:
        """At most `anonymous_sockets_per_address` open at once (new ones are also limited: `handshake_guard`)."""
        if anonymous_open.get(address, 0) >= security.anonymous_sockets_per_address:
            raise ConnectionRefusedError("too_many_connections")

    @socketio.on("connect")
    def connect(auth: Any = None) -> bool:
        auth = auth if isinstance(auth, dict) else {}
        actor, credential = who(auth)
        site = auth.get("site")
        public_id = auth.get("ticket")
        if site is not None and (not isinstance(site, str) or site not in c.config.sites):
            raise ConnectionRefusedError("unknown_site")
        if actor is not None and actor.site and site and actor.site != site:
            raise ConnectionRefusedError("wrong_site")
        if site is None and public_id is None:
            raise ConnectionRefusedError("site_required")
        ticket = None
        if isinstance(public_id, str) and 0 < len(public_id) <= 64:
            try:
                ticket = engine.get_ticket_by_public_id(public_id)
            except Exception:  # noqa: BLE001
                raise ConnectionRefusedError("unknown_ticket") from None
        address = None
        if actor is None:
            address = client_address(request.environ, security)
            admit_anonymous(address)
            anonymous_open[address] = anonymous_open.get(address, 0) + 1
        client = clients[request.sid] = Client(request.sid, site or (ticket and ticket["site"]), actor, credential,
                                               address)
        if credential is not None and not sweeping:
            sweeping.append(True)
            socketio.start_background_task(sweep_loop)
        if site:
            join_room(screens_room(site) if actor is not None else site_room(site))
            client.last_state = time.monotonic()
            emit("state", state_for(client))
        if ticket is not None:
            join_room(ticket_room(public_id))
            if not site:
                join_room(site_room(ticket["site"]))
            emit("ticket.updated", ticket)
        return True

    @socketio.on("disconnect")
    def disconnect(*_args: Any) -> None:
        client = clients.pop(request.sid, None)
        if client is not None and client.address is not None:
            left = anonymous_open.get(client.address, 1) - 1
            if left > 0:
                anonymous_open[client.address] = left
            else:
                anonymous_open.pop(client.address, None)

    def spend(client: Client | None) -> bool:
        """Every client → server packet costs one from the socket's bucket; a socket that sends far more than
        any screen does is disconnected."""
        if client is None:
            return False
        if client.events.take(time.monotonic()):
            return True
        log.warning("socket %s (%s) sent too many events; disconnected", client.sid,
                    client.address or (client.actor.name if client.actor else "?"))
        socketio.server.disconnect(client.sid, namespace="/")
        return False

    def send_later(client: Client, wait: float) -> None:
        socketio.sleep(wait)
        client.pending = False
        if clients.get(client.sid) is not client or not still_valid(client):
            return
        client.last_state = time.monotonic()
        socketio.emit("state", state_for(client), to=client.sid)

    @socketio.on("resync")
    def resync(*_args: Any) -> None:
        """Read-only: the client asks for the whole state again (after a reconnect, or on a timer). Asks
        closer together than RESYNC_EVERY_S are coalesced into one `state` at the end of the interval."""
        client = clients.get(request.sid)
        if not spend(client) or client is None or not client.site:
            return
        if not still_valid(client):
            socketio.server.disconnect(client.sid, namespace="/")
            return
        if client.pending:
            return
        wait = client.last_state + RESYNC_EVERY_S - time.monotonic()
        if wait <= 0:
            client.last_state = time.monotonic()
            emit("state", state_for(client))
        else:
            client.pending = True
            socketio.start_background_task(send_later, client, wait)

    @socketio.on("*")
    def any_other(_event: Any = None, *_args: Any) -> None:
        """No other client → server event exists; each still costs the sender."""
        spend(clients.get(request.sid))

    @socketio.on_error_default
    def on_error(e: Exception) -> None:
        log.warning("socket.io handler error: %s", e)
