"""A center's name at the hub, one rule for every page (the booking page, the panel, the reports).

A center names itself in the labels it sends (its config.toml's `[center] name`): the full official name, in
Vietnamese and English. A center set up from a neighbour's config.toml sends the neighbour's name, and the hub
then showed two places under one name: a citizen booking at one was told to go to the other. A name that two
centers send is therefore never used; the province's register (hub.toml's `name`, the center the token and the
sites belong to) names both instead.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from .config import HubCenter


def _own(labels: Any, en: bool) -> str | None:
    if not isinstance(labels, dict):
        return None
    name = (labels.get("center_name_en") if en else None) or labels.get("center_name")
    return name.strip() if isinstance(name, str) and name.strip() else None


def names_from(centers: Sequence[HubCenter], labels: dict[str, Any], en: bool = False) -> dict[str, str]:
    """The name of each of `centers` (hub.toml's), given every center's labels (center id → labels): a name is
    shared when any other center sent it, listed or not."""
    sent = Counter(n.casefold() for n in (_own(lab, en) for lab in labels.values()) if n)
    own = {c.id: _own(labels.get(c.id), en) for c in centers}
    return {c.id: own[c.id] if own[c.id] and sent[own[c.id].casefold()] == 1 else c.name for c in centers}


def center_names(conn: Any, centers: Sequence[HubCenter], en: bool = False) -> dict[str, str]:
    """`names_from` over what the centers sent (every center's, so a shared name is seen whoever reads)."""
    labels = {r[0]: r[1] for r in conn.execute("SELECT center, labels FROM hub_labels")}
    return names_from(centers, labels, en)
