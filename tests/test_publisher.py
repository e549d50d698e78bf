"""The publisher under gevent (as in the production worker): the public gets events a chunk at a time, and
a call is never held up by a busy event loop or by a fan-out to many phones.

Runs in a child process monkey-patched by gevent; Socket.IO is replaced by a recorder of what would be sent,
to whom and when (the real fan-out is measured by bench_core and bench_display)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from tests.conftest import ROOT

SCRIPT = textwrap.dedent(r"""
    from gevent import monkey
    monkey.patch_all()

    import json, time
    import gevent
    from center.queue.events import Event, screens_room, site_room
    from center.web.realtime import publisher

    PHONES = [f"phone{i}" for i in range(100)]
    sent = []

    class Manager:
        def get_participants(self, namespace, room):
            if room == site_room("main"):
                return [(sid, sid) for sid in PHONES]
            if room == screens_room("main"):
                return [("display", "display")]
            return []

    class Server:
        manager = Manager()

    class SocketIO:
        server = Server()

        def emit(self, name, payload, to):
            sent.append((time.monotonic(), name, to if isinstance(to, str) else len(to)))
            gevent.sleep(0.002)  # what writing to 25 sockets costs the loop, roughly

    publish = publisher(SocketIO())
    busy_until = time.monotonic() + 0.3

    def busy():  # other greenlets that always have something ready to run
        while time.monotonic() < busy_until:
            gevent.sleep(0)

    workers = [gevent.spawn(busy) for _ in range(3)]
    publish([Event("ticket.issued", "main", {"ticket": 1})])
    gevent.sleep(0.01)
    called_at = time.monotonic()
    publish([Event("ticket.called", "main", {"ticket": 2})])
    gevent.sleep(0.5)
    gevent.joinall(workers)
    call = [(t - called_at, to) for t, name, to in sent if name == "ticket.called"]
    issued = [to for t, name, to in sent if name == "ticket.issued"]
    print(json.dumps({"call": call, "issued": issued}))
""")


def test_a_call_goes_out_at_once_while_the_loop_is_busy_and_phones_get_chunks():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    first_delay, first_to = result["call"][0]
    assert first_to == "site:main:screens" and first_delay < 0.05  # not after the 0.3 s busy spell
    assert sum(n for _, n in result["call"][1:]) == 100  # the call reached every phone too
    assert result["issued"][0] == "site:main:screens" and result["issued"][1:] == [25, 25, 25, 25]
