"""python-escpos printer profiles (media width, cutter), looked up once per name.

Both the renderer (ticket.py: the printable width) and the encoder (drivers.py: which cut command) read
them; a module of its own keeps the two from importing each other.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.lru_cache(maxsize=32)
def escpos_profile(name: str) -> Any:
    from escpos.capabilities import get_profile

    return get_profile(name)
