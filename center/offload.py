"""Long blocking work off the event loop.

The server runs a gevent worker (docs/architecture.md): one OS thread serves every request and every
WebSocket of the process, switching between greenlets whenever one waits on the network. A call that
blocks inside C for long (a yearly report aggregated by SQLite, a roll-up build, a USB or serial
printer write) would freeze every screen of the worker for that time. Such work goes through `run`,
which executes it on a native thread of a small pool while the asking greenlet waits cooperatively.

Outside a gevent worker (tests, command line) `run` calls the function directly, or in a plain thread
when a timeout is asked for. Code on an offload thread must not publish events (gevent queues do not
wake across OS threads); the store gives it unpooled connections (`on_native_thread`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
POOL_SIZE = 4
# Days of roll-ups built per write transaction on an offload thread: short enough (tens of ms) that a queue
# operation meeting it in SQLite's busy wait does not hold the event loop long.
BATCH_DAYS = 7

_pool: Any = None
_pool_lock = threading.Lock()


def gevent_active() -> bool:
    """True inside a gevent worker (the standard library is monkey-patched)."""
    try:
        from gevent import monkey
    except ImportError:
        return False
    return bool(monkey.is_module_patched("threading"))


def _native_local() -> Any:
    from gevent import monkey

    return monkey.get_original("threading", "local")()


_marker: Any = None


def on_native_thread() -> bool:
    """True when running on an offload thread (under gevent), where pooled gevent objects must not be used."""
    return _marker is not None and getattr(_marker, "active", False)


def _get_pool() -> Any:
    global _pool, _marker
    with _pool_lock:
        if _pool is None:
            from gevent.threadpool import ThreadPool

            _marker = _native_local()
            _pool = ThreadPool(POOL_SIZE)
        return _pool


class _Refused:
    """A QueueError raised on a pool thread, carried back to the caller to be raised there."""

    def __init__(self, error: Exception):
        self.error = error


def run(fn: Callable[..., T], *args: Any, timeout: float | None = None, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)` without blocking the event loop; TimeoutError when `timeout` passes first
    (the work itself goes on in the background and its result is dropped)."""
    if gevent_active():
        import gevent

        pool = _get_pool()

        from .errors import QueueError

        def marked() -> Any:
            _marker.active = True
            try:
                return fn(*args, **kwargs)
            except QueueError as e:  # a refusal (bad filter…) is an answer, not a crash: gevent would log a traceback
                return _Refused(e)
            finally:
                _marker.active = False

        result = pool.spawn(marked)
        try:
            value = result.get(timeout=timeout)
        except gevent.Timeout:
            raise TimeoutError(f"{getattr(fn, '__name__', 'work')} took longer than {timeout} s") from None
        if isinstance(value, _Refused):
            raise value.error
        return value
    if timeout is None:
        return fn(*args, **kwargs)
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["value"] = fn(*args, **kwargs)
        except BaseException as e:  # noqa: BLE001 - re-raised in the caller
            box["error"] = e

    thread = threading.Thread(target=work, name=f"offload-{getattr(fn, '__name__', 'work')}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"{getattr(fn, '__name__', 'work')} took longer than {timeout} s")
    if "error" in box:
        raise box["error"]
    return box["value"]
