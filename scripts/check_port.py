"""`make run` checks its port before it touches anything: on a port already taken, the demo would wipe its
database and print fresh credentials, then fail to start. This says which process holds the port instead.

    python scripts/check_port.py 8080 [--host 127.0.0.1]   -> exit 0 when free, 1 (with the reason) when taken
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path


def port_free(host: str, port: int) -> bool:
    """Whether the server could listen on host:port now (SO_REUSEADDR as gunicorn sets it: a connection in
    TIME_WAIT does not count, a listener does)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _from_ss(port: int) -> list[tuple[int, str]]:
    """(pid, program) of the listeners on `port` as `ss -ltnp` shows them (pids only for processes we may see)."""
    ss = shutil.which("ss")
    if not ss:
        return []
    try:
        out = subprocess.run([ss, "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [(int(pid), name) for name, pid in re.findall(r'\("([^"]+)",pid=(\d+)', out)]


def _from_proc(port: int) -> list[tuple[int, str]]:
    """The same from /proc: the listening sockets' inodes in /proc/net/tcp*, then the processes holding them."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) > 9 and cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(cols[9])
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc") if inodes else []):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # another user's process, or gone
            continue
        links = set()
        for fd in fds:
            with contextlib.suppress(OSError):  # closed meanwhile (this listing's own descriptor)
                links.add(os.readlink(f"/proc/{pid}/fd/{fd}"))
        if any(f"socket:[{inode}]" in links for inode in inodes):
            try:
                name = Path(f"/proc/{pid}/comm").read_text().strip()
            except OSError:
                name = "?"
            found.append((int(pid), name))
    return found


def holders(port: int) -> list[tuple[int, str]]:
    """Who listens on `port`: from ss when it is there, else from /proc; empty when neither can tell."""
    return _from_ss(port) or _from_proc(port)


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        return " ".join(raw.split())
    except OSError:
        return ""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("port", type=int)
    ap.add_argument("--host", default="127.0.0.1")
    args = ap.parse_args(argv)
    if port_free(args.host, args.port):
        return 0
    who = sorted(set(holders(args.port)))
    if who:
        named = "; ".join(f"{name} (pid {pid}{': ' + cmd[:120] if (cmd := command_line(pid)) else ''})"
                          for pid, name in who)
    else:
        named = "không rõ tiến trình nào / the process is not known"
    print(f"Cổng {args.port} đang được dùng bởi: {named}.\n"
          f"Dừng tiến trình đó, hoặc chạy bản thử trên cổng khác: make run PORT={args.port + 1}\n"
          f"Port {args.port} is already in use by: {named}. Stop it, or use another port: "
          f"make run PORT={args.port + 1}\n"
          f"(Nothing was changed: the demo database and its credentials are as they were.)", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
