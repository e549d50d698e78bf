"""python-escpos printer profiles (media width, cutter), looked up once per name.

Both the renderer (ticket.py: the printable width) and the encoder (drivers.py: which cut command) read
them; a module of its own keeps the two from importing each other.

python-escpos parses its printer database (a large YAML file) on import and caches the result as a pickle in
a directory it makes anew with mkdtemp() in every process unless told otherwise: each server start paid
~300 ms of parsing on its first ticket (and left a directory in /tmp). `_pickle_dir` gives it one directory
that stays, private to this user (a pickle is code when loaded: never one in a directory others can write).
"""

from __future__ import annotations

import functools
import os
import stat
from pathlib import Path
from typing import Any

ENV = "ESCPOS_CAPABILITIES_PICKLE_DIR"


def _pickle_dir() -> None:
    """Point python-escpos at ~/.cache/xephang-escpos (mode 0700, ours) unless already set or not possible."""
    if os.environ.get(ENV):
        return
    try:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        path = base / "xephang-escpos"
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = path.lstat()
        if stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid() and not info.st_mode & 0o077:
            os.environ[ENV] = str(path)
    except (OSError, RuntimeError):  # no home, read-only disk: python-escpos keeps its own temporary directory
        pass


_pickle_dir()  # before anything imports escpos: drivers.py and ticket.py import this module first


@functools.lru_cache(maxsize=32)
def escpos_profile(name: str) -> Any:
    from escpos.capabilities import get_profile

    return get_profile(name)
