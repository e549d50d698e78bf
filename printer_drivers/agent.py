"""Print agent for a kiosk whose printer is plugged into the kiosk PC.

    python -m printer_drivers.agent --server http://192.168.1.10:8080 --token xh_... --printer usb:04b8:0202

It long-polls the server for this kiosk's print jobs (the token says which kiosk), renders each ticket
for the local printer's width, prints it with the same deadline as the server does, and reports the
outcome; a test page asked from the administration page is printed and reported the same way. When the
server restarts or the network drops it keeps retrying with a short back-off; an outcome that could not
be reported is kept and sent once the server is back.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

import requests

from .drivers import PrintResult, parse_spec, print_test_page, print_ticket
from .ticket import TicketData

log = logging.getLogger("xephang.agent")


class Agent:
    def __init__(self, server: str, token: str, printer_spec: str, *, wait_s: float = 20.0,
                 deadline_s: float = 2.5):
        self.server = server.rstrip("/")
        self.printer = parse_spec(printer_spec)
        self.wait_s = wait_s
        self.deadline_s = deadline_s
        self.session = requests.Session()
        self.session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json"})
        self.unreported: list[tuple[int, dict[str, Any]]] = []
        self.printed = 0
        self.connected = False

    def handle(self, job: dict[str, Any]) -> PrintResult:
        data = TicketData.from_json(job.get("data") or {})
        result = print_ticket(self.printer, data, deadline_s=self.deadline_s)
        log.info("job %s (ticket %s): %s %s", job.get("id"), job.get("number"), result.status, result.error or "")
        if result.ok:
            self.printed += 1
        return result

    def report(self, job_id: int, body: dict[str, Any]) -> None:
        r = self.session.post(f"{self.server}/kiosk/agent/jobs/{job_id}", json=body, timeout=10)
        if r.status_code >= 500:
            raise requests.ConnectionError(f"server answered {r.status_code}")
        if r.status_code >= 400:
            log.warning("report of job %s refused: %s", job_id, r.text[:200])

    def flush(self) -> None:
        while self.unreported:
            job_id, body = self.unreported[0]
            self.report(job_id, body)
            self.unreported.pop(0)

    def step(self) -> int:
        """One long poll; returns the number of jobs handled. Raises requests errors when offline."""
        self.flush()
        r = self.session.get(f"{self.server}/kiosk/agent/jobs", params={"wait": self.wait_s},
                             timeout=self.wait_s + 15)
        if r.status_code in (401, 403):
            raise PermissionError(r.json().get("message_en", r.text[:200]) if r.content else str(r.status_code))
        if r.status_code != 200:
            raise requests.ConnectionError(f"server answered {r.status_code}")
        if not self.connected:
            log.info("connected to %s", self.server)
            self.connected = True
        answer = r.json()
        jobs = answer.get("jobs", [])
        for job in jobs:
            result = self.handle(job)
            body = {"ok": result.ok, "error": result.error, "health": result.health.to_json()}
            self.unreported.append((int(job["id"]), body))
            self.flush()
        for test in answer.get("tests") or []:
            self.test_page(test)
        return len(jobs)

    def test_page(self, test: dict[str, Any]) -> PrintResult:
        """A test page asked from the administration page; its outcome is reported once (someone is waiting)."""
        page = test.get("page") or {}
        result = print_test_page(self.printer, *(str(page.get(k, ""))[:300] for k in
                                                 ("center_name", "site_name", "kiosk_name", "when")),
                                 deadline_s=self.deadline_s)
        log.info("test page %s: %s %s", test.get("id"), result.status, result.error or "")
        body = {"ok": result.ok, "error": result.error, "health": result.health.to_json()}
        path = str(test.get("report") or f"/kiosk/agent/tests/{int(test['id'])}")
        try:
            self.session.post(self.server + path, json=body, timeout=10)
        except requests.RequestException as e:
            log.warning("could not report test page %s: %s", test.get("id"), e)
        return result

    def run(self, *, stop_after: float | None = None) -> None:
        backoff = 0.5
        started = time.monotonic()
        while stop_after is None or time.monotonic() - started < stop_after:
            try:
                self.step()
                backoff = 0.5
            except PermissionError as e:
                log.error("the server refuses this token: %s (retrying in 30 s)", e)
                self.connected = False
                time.sleep(30)
            except (requests.RequestException, ValueError) as e:
                if self.connected:
                    log.warning("lost the server (%s); reconnecting", e)
                self.connected = False
                time.sleep(backoff)
                backoff = min(5.0, backoff * 2)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m printer_drivers.agent", description=__doc__.split("\n\n")[0])
    ap.add_argument("--server", required=True, help="the xephang server, e.g. http://192.168.1.10:8080")
    ap.add_argument("--token", required=True, help="this kiosk's device token")
    ap.add_argument("--printer", required=True,
                    help="network:HOST[:PORT] | usb:VID:PID | serial:DEV[:BAUD] | file:PATH | cups:QUEUE | none, "
                         "then options ,paper=58,profile=TM-T20II,timeout=2.5,text")
    ap.add_argument("--wait", type=float, default=20.0, help="long-poll seconds (default 20)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    try:
        agent = Agent(args.server, args.token, args.printer, wait_s=args.wait)
    except ValueError as e:
        ap.error(str(e))
    log.info("print agent for %s, printer %s", args.server, args.printer)
    try:
        agent.run()
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
