"""The province's pages (live panel, reports): registered on the hub app."""

from __future__ import annotations

from typing import Any


def register(app: Any) -> None:
    """Province pages come here (issue 16, part 3)."""
