"""config.toml's places: `[upstream]` (this server is a node of a center) and `[[nodes]]` (at a center: the
places that run on their own and push their sites' records here). docs/federation.md explains the set-up."""

from __future__ import annotations

import re
from typing import Any

from .model import Node, Upstream

URL_RE = re.compile(r"^https?://[A-Za-z0-9.\-\[\]:]+(/[A-Za-z0-9._~/-]*)?$")
MAX_BLOCK = 9_000_000  # block * 10**12 stays inside SQLite's 64-bit integers


def parse_upstream(r: Any, name_key: str = "node") -> Upstream | None:
    """[upstream] url, node (and token_file, ca_file): absent on a center that pushes nowhere. The same shape
    is a center's [hub] (url, center): where its records and its nodes' go next (center/hub/)."""
    if not r.data:
        r.finish()
        return None
    url = r.str("url")
    if not URL_RE.match(url):
        from .read import ConfigError

        raise ConfigError(r.path("url"), f"{url!r} is not a URL like \"https://trungtam.example.vn\"")
    up = Upstream(url=url.rstrip("/"), node=r.str(name_key, code=True), token_file=r.str("token_file", ""),
                  ca_file=r.str("ca_file", ""))
    r.finish()
    return up


def parse_nodes(tables: list[Any], sites: dict[str, Any]) -> tuple[Node, ...]:
    """[[nodes]] id, name, block, sites: each site is served by at most one node and each block is one node's."""
    from .read import ConfigError

    nodes: list[Node] = []
    owner: dict[str, str] = {}
    blocks: dict[int, str] = {}
    for r in tables:
        nid = r.str("id", code=True)
        if any(n.id == nid for n in nodes):
            raise ConfigError(r.path("id"), f"node {nid!r} is defined twice")
        block = r.int("block", low=1, high=MAX_BLOCK)
        if block in blocks:
            raise ConfigError(r.path("block"), f"block {block} is already node {blocks[block]!r}'s")
        blocks[block] = nid
        served = tuple(str(x) for x in r.list("sites", required=True))
        if not served:
            raise ConfigError(r.path("sites"), "needs at least one site")
        for i, code in enumerate(served):
            if code not in sites:
                raise ConfigError(f"{r.path('sites')}[{i}]", f"unknown site {code!r} (define it in [[sites]])")
            if code in owner:
                raise ConfigError(f"{r.path('sites')}[{i}]", f"site {code!r} is already served by node {owner[code]!r}")
            owner[code] = nid
        nodes.append(Node(id=nid, name=r.str("name", nid), block=block, sites=served))
        r.finish()
    return tuple(nodes)
