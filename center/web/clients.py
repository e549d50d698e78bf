"""Who is on the other end of a request: its client address and whether its page may use the staff cookie.

Both are read from the WSGI environ so that HTTP routes and Socket.IO handlers decide the same way.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from ..config.model import Security


@lru_cache(maxsize=64)
def _networks(proxies: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(ipaddress.ip_network(p, strict=False) for p in proxies)


def _is_trusted(addr: str, proxies: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in net for net in _networks(proxies))


def client_address(environ: Mapping[str, Any], security: Security) -> str:
    """The client's IP address: the peer's, or, when the peer is a trusted reverse proxy (nginx on the same
    host by default), the address the proxy reports (X-Real-IP, else the last X-Forwarded-For hop)."""
    peer = str(environ.get("REMOTE_ADDR") or "")
    if not _is_trusted(peer, security.trusted_proxies):
        return peer
    reported = str(environ.get("HTTP_X_REAL_IP") or "").strip()
    if not reported:
        hops = [h.strip() for h in str(environ.get("HTTP_X_FORWARDED_FOR") or "").split(",") if h.strip()]
        reported = hops[-1] if hops else ""
    try:
        return str(ipaddress.ip_address(reported))
    except ValueError:
        return peer


def own_origins(environ: Mapping[str, Any]) -> set[str]:
    """The origins of this server as the browser sees it: its Host, with the scheme of the request or the
    one a proxy reports (a page cannot set these headers on a victim's WebSocket)."""
    host = str(environ.get("HTTP_HOST") or "").lower()
    if not host:
        return set()
    out = {f"{environ.get('wsgi.url_scheme', 'http')}://{host}"}
    proto = str(environ.get("HTTP_X_FORWARDED_PROTO") or "").split(",")[0].strip().lower()
    fwd_host = str(environ.get("HTTP_X_FORWARDED_HOST") or "").split(",")[0].strip().lower()
    if proto in ("http", "https") or fwd_host:
        out.add(f"{proto if proto in ('http', 'https') else environ.get('wsgi.url_scheme', 'http')}://"
                f"{fwd_host or host}")
    return out


def cookie_allowed(environ: Mapping[str, Any], extra_origins: Iterable[str]) -> bool:
    """May this connection act with the staff cookie it carries? Only a page of the app's own origin (or
    one named in [security] allowed_origins) may: a WebSocket is not bound by the same-origin policy, so a
    page elsewhere (even this host on another port) would otherwise read what the signed-in person sees.

    A browser sends Origin on every WebSocket and cross-origin request; without one, only a request the
    browser marks as same-origin (Sec-Fetch-Site, e.g. a same-origin long-polling GET) counts: a script tag
    or an old browser that says nothing gets no cookie rights."""
    origin = str(environ.get("HTTP_ORIGIN") or "").lower()
    if origin:
        return origin in own_origins(environ) or origin in set(extra_origins)
    return str(environ.get("HTTP_SEC_FETCH_SITE") or "").lower() == "same-origin"
