"""ESC/POS printing with a hard deadline: encode with python-escpos, send over network, USB, serial, a
device or file path, or a CUPS raw queue, and always come back with an outcome.

A kiosk must learn within 3 seconds whether its ticket printed, even when the printer is off (connection
refused), the host does not answer (connect timeout), the printer accepts the connection but never reads
(the send blocks: bounded by a socket deadline), or it reports that the paper is out (DLE EOT status).
python-escpos's own network class waits up to 60 s by default, so the network transport here is a plain
socket with a deadline; the others run in a worker thread joined with a timeout.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from PIL import Image

from .printer import Printer
from .profiles import escpos_profile
from .ticket import TicketData, paper_width, render_test_page, render_ticket, waiting_line

DLE_EOT = b"\x10\x04"
STATUS_QUERY = DLE_EOT + b"\x01" + DLE_EOT + b"\x02" + DLE_EOT + b"\x04"
DEFAULT_DEADLINE_S = 3.0
SEND_BUFFER = 8192  # a small send buffer: a printer that stops reading blocks us quickly

MESSAGES: dict[str, tuple[str, str]] = {
    "printer_off": ("Máy in chưa bật hoặc không kết nối được", "The printer is off or refuses the connection"),
    "printer_unreachable": ("Không liên lạc được với máy in", "The printer does not answer on the network"),
    "printer_not_responding": ("Máy in không nhận lệnh in", "The printer accepted the connection but does not read"),
    "paper_out": ("Máy in hết giấy", "The printer is out of paper"),
    "cover_open": ("Nắp máy in đang mở", "The printer cover is open"),
    "printer_offline": ("Máy in đang tạm ngừng", "The printer is offline"),
    "device_not_found": ("Không tìm thấy máy in", "Printer device not found"),
    "timeout": ("Máy in không phản hồi kịp", "The printer did not answer in time"),
    "printer_error": ("Máy in báo lỗi", "The printer reported an error"),
    "agent_offline": ("Máy in của kiosk chưa sẵn sàng", "The kiosk's print agent is not connected"),
    "agent_slow": ("Máy in của kiosk chưa báo kết quả", "The kiosk's print agent has not reported yet"),
}


@dataclass
class Health:
    """What the printer says about itself; None / "unknown" where it does not answer."""

    online: bool | None = None
    paper: str = "unknown"  # ok, low, out, unknown
    cover_open: bool | None = None
    answered: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class PrintResult:
    ok: bool
    status: str  # printed, failed, none (screen only), pending (agent)
    error: str | None = None
    message: str = ""
    message_en: str = ""
    health: Health = field(default_factory=Health)
    seconds: float = 0.0
    # Set when the deadline passed while the write still ran: the real outcome once it is known (None until
    # then). A printer that takes the whole job a moment late printed it: the caller must not call it failed.
    settled: Callable[[], PrintResult | None] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def failed(cls, code: str, health: Health | None = None, detail: str = "") -> PrintResult:
        vi, en = MESSAGES.get(code, MESSAGES["printer_error"])
        return cls(ok=False, status="failed", error=code, message=vi,
                   message_en=en + (f" ({detail})" if detail else ""), health=health or Health())

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "status": self.status, "error": self.error, "message": self.message,
                "message_en": self.message_en, "health": self.health.to_json(), "seconds": round(self.seconds, 3)}


class PrinterFault(Exception):
    def __init__(self, code: str, detail: str = "", health: Health | None = None):
        super().__init__(code)
        self.code = code
        self.detail = detail
        self.health = health


# ----------------------------------------------------------------------------------- encoding


def encode_image(img: Image.Image, profile: str = "TM-T88V", *, cut: bool = True) -> bytes:
    """ESC @, the image as `GS v 0` raster blocks (as python-escpos's bitImageRaster), feed and cut.

    Built directly rather than through a python-escpos printer object: creating one re-reads its
    configuration each time, which costs more than drawing the whole ticket.
    """
    from escpos.constants import PAPER_FULL_CUT, PAPER_PART_CUT

    bw = img if img.mode == "1" else img.convert("L").point(lambda v: 255 if v >= 128 else 0, mode="1")
    # ESC/POS: bit 1 = black dot; Pillow "1": bit 1 = white. Invert while packing.
    width_bytes = (bw.width + 7) // 8
    out = bytearray(b"\x1b@")
    for top in range(0, bw.height, 1024):
        part = bw.crop((0, top, bw.width, min(bw.height, top + 1024)))
        data = _invert(part.tobytes())
        out += b"\x1dv0\x00" + struct.pack("<HH", width_bytes, part.height) + data
    if cut:
        out += b"\x1bd\x06"  # print and feed 6 lines, past the cutter
        p = escpos_profile(profile)
        if p.supports("paperFullCut"):
            out += PAPER_FULL_CUT
        elif p.supports("paperPartCut"):
            out += PAPER_PART_CUT
        else:
            out += PAPER_FULL_CUT  # harmless on printers without a cutter
    return bytes(out)


_INVERT = bytes(range(255, -1, -1))


def _invert(data: bytes) -> bytes:
    return data.translate(_INVERT)


def encode_text(data: TicketData, profile: str = "TM-T88V", *, cut: bool = True) -> bytes:
    """Text mode for printers with a working Vietnamese code page (off by default: see the module doc)."""
    from escpos.printer import Dummy

    p = Dummy(profile=profile)
    p._raw(b"\x1b@")
    p.set(align="center", bold=True)
    p.textln(data.center_name.upper())
    p.set(align="center", bold=False)
    p.textln(data.site_name)
    p.set(align="center", bold=True)
    p.textln("SỐ THỨ TỰ")
    p.set(align="center", bold=True, double_height=True, double_width=True, custom_size=False)
    p.textln(data.number)
    p.set(align="center", bold=False, normal_textsize=True)
    if data.priority_name:
        p.textln(f"ƯU TIÊN – {data.priority_name}")
    p.textln(data.service_name)
    if data.counters:
        p.textln("Quầy: " + ", ".join(str(n) for n in data.counters))
    line = waiting_line(data)
    if line:
        p.textln(line)
    if data.url:
        with contextlib.suppress(Exception):
            p.qr(data.url, size=6, native=p.profile.supports("qrCode"))
    p.textln(data.local_time())
    if data.footer:
        p.textln(data.footer)
    if cut:
        p.cut()
    return p.output


def parse_status(reply: bytes) -> Health:
    """Answers to DLE EOT 1, 2, 4 (one byte each, bits 1 and 4 set, bits 0 and 7 clear)."""
    health = Health()
    answers = [b for b in reply if (b & 0x93) == 0x12]
    if not answers:
        return health
    health.answered = True
    if len(answers) >= 1:
        health.online = not bool(answers[0] & 0x08)
    if len(answers) >= 2:
        health.cover_open = bool(answers[1] & 0x04)
        if answers[1] & 0x20:
            health.paper = "out"
    if len(answers) >= 3:
        roll = answers[2]
        if roll & 0x60:
            health.paper = "out"
        elif roll & 0x0C:
            health.paper = "low"
        elif health.paper != "out":
            health.paper = "ok"
    return health


def check_health(health: Health) -> None:
    if health.paper == "out":
        raise PrinterFault("paper_out", health=health)
    if health.cover_open:
        raise PrinterFault("cover_open", health=health)
    if health.online is False:
        raise PrinterFault("printer_offline", health=health)


# ----------------------------------------------------------------------------------- transports


def _thread_with_deadline(fn: Callable[[], None], timeout: float) -> None:
    """`fn()` on a daemon thread joined with `timeout`: TimeoutError when it is not done by then (the
    write goes on in the background and its outcome is dropped)."""
    thread = threading.Thread(target=fn, name="printer-write", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError(f"the printer took longer than {timeout} s")


# How a blocking device write runs with its deadline. The print agent keeps the plain thread above; the
# server, whose gevent worker would be frozen by a write blocked in C, hands it center.offload.run
# (center/output/printing.py), so this package never imports the server.
_run_blocking: Callable[..., Any] = _thread_with_deadline


def use_runner(run: Callable[..., Any]) -> None:
    """Run device writes through `run(fn, timeout=seconds)` (raises TimeoutError when the deadline passes)."""
    global _run_blocking
    _run_blocking = run


def _network(printer: Printer, data: bytes | None, deadline: float) -> Health:
    def remaining() -> float:
        left = deadline - time.monotonic()
        if left <= 0.01:
            raise PrinterFault("timeout")
        return left

    try:
        infos = socket.getaddrinfo(printer.host, printer.port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise PrinterFault("printer_unreachable", str(e)) from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(min(remaining(), printer.timeout_s))
        try:
            sock.connect(address)
        except ConnectionRefusedError:
            raise PrinterFault("printer_off") from None
        except TimeoutError:
            raise PrinterFault("printer_unreachable", "connect timed out") from None
        except OSError as e:
            raise PrinterFault("printer_unreachable", str(e)) from None
        # Ask for the status; a printer that does not answer is "unknown", never "OK".
        reply = b""
        try:
            sock.settimeout(remaining())
            sock.sendall(STATUS_QUERY)
            status_until = time.monotonic() + min(0.6, (deadline - time.monotonic()) / 3)
            while len(reply) < 3:
                left = status_until - time.monotonic()
                if left <= 0:
                    break
                sock.settimeout(left)
                chunk = sock.recv(16)
                if not chunk:
                    break
                reply += chunk
        except TimeoutError:
            pass
        except OSError as e:
            raise PrinterFault("printer_not_responding", str(e)) from None
        health = parse_status(reply)
        check_health(health)
        if data:
            try:
                sock.settimeout(remaining())
                sock.sendall(data)  # since Python 3.5 the timeout bounds the whole sendall
            except TimeoutError:
                raise PrinterFault("printer_not_responding", "send blocked", health) from None
            except OSError as e:
                raise PrinterFault("printer_not_responding", str(e), health) from None
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
        return health
    finally:
        sock.close()


def _escpos_device(printer: Printer) -> Any:
    from escpos import printer as ep

    if printer.driver == "usb":
        return ep.Usb(printer.usb_vendor, printer.usb_product, timeout=int(printer.timeout_s * 1000),
                      profile=printer.profile)
    if printer.driver == "serial":
        return ep.Serial(devfile=printer.device, baudrate=printer.baudrate, timeout=printer.timeout_s,
                         profile=printer.profile)
    return ep.File(devfile=printer.device, profile=printer.profile)


def _device(printer: Printer, data: bytes | None) -> Health:
    """USB, serial or a device/file path through python-escpos."""
    from escpos.exceptions import DeviceNotFoundError

    dev = _escpos_device(printer)
    try:
        dev.open(raise_not_found=True)
    except DeviceNotFoundError as e:
        raise PrinterFault("device_not_found", str(e)) from None
    except OSError as e:
        raise PrinterFault("device_not_found", str(e)) from None
    health = Health()
    try:
        if printer.driver in ("usb", "serial"):
            with contextlib.suppress(Exception):
                dev._raw(STATUS_QUERY)
                reply = b""
                for _ in range(3):
                    chunk = dev._read()
                    if not chunk:
                        break
                    reply += bytes(chunk)
                health = parse_status(reply)
        check_health(health)
        if data:
            try:
                dev._raw(data)
            except Exception as e:  # noqa: BLE001 - any device error is a failed print
                raise PrinterFault("printer_not_responding", str(e), health) from None
        return health
    finally:
        with contextlib.suppress(Exception):
            dev.close()


def _cups(printer: Printer, data: bytes | None, deadline: float) -> Health:
    if not data:
        return Health()
    try:
        out = subprocess.run(["lp", "-d", printer.queue, "-o", "raw"], input=data, capture_output=True,
                             timeout=max(0.1, deadline - time.monotonic()), check=False)
    except FileNotFoundError:
        raise PrinterFault("device_not_found", "lp (CUPS) is not installed") from None
    except subprocess.TimeoutExpired:
        raise PrinterFault("timeout", "lp") from None
    if out.returncode != 0:
        raise PrinterFault("printer_error", out.stderr.decode(errors="replace").strip()[:200])
    return Health()


def send(printer: Printer, data: bytes | None, deadline_s: float = DEFAULT_DEADLINE_S) -> PrintResult:
    """Send `data` (None: only read the status) and return within `deadline_s`, whatever the printer does."""
    start = time.monotonic()
    deadline = start + deadline_s
    if printer.driver == "none":
        return PrintResult(ok=True, status="none")
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            _work()
        finally:
            box["done"] = True  # read by `settled` from whatever thread asks

    def _work() -> None:
        try:
            if printer.driver == "network":
                box["health"] = _network(printer, data, deadline - 0.05)
            elif printer.driver == "cups":
                box["health"] = _cups(printer, data, deadline - 0.05)
            elif printer.driver in ("usb", "serial", "file"):
                box["health"] = _device(printer, data)
            else:
                raise PrinterFault("printer_error", f"driver {printer.driver} prints through the agent")
        except PrinterFault as e:
            box["fault"] = e
        except Exception as e:  # noqa: BLE001 - whatever goes wrong, the kiosk gets an answer
            box["fault"] = PrinterFault("printer_error", f"{type(e).__name__}: {e}")

    # A device write blocks in C (and the printer may never read): on a native thread, joined with a deadline.
    try:
        _run_blocking(work, timeout=max(0.0, deadline - time.monotonic()))
        timed_out = False
    except TimeoutError:
        timed_out = True
    seconds = time.monotonic() - start
    if timed_out and not box.get("done"):
        result = PrintResult.failed("timeout")
        result.settled = lambda: _outcome(box, time.monotonic() - start) if box.get("done") else None
        result.seconds = seconds
        return result
    return _outcome(box, seconds)


def _outcome(box: dict[str, Any], seconds: float) -> PrintResult:
    """What a finished write says: printed with the printer's health, or the fault it met."""
    if "fault" in box:
        fault: PrinterFault = box["fault"]
        result = PrintResult.failed(fault.code, fault.health, fault.detail)
    else:
        result = PrintResult(ok=True, status="printed", health=box.get("health") or Health())
    result.seconds = seconds
    return result


def status(printer: Printer, deadline_s: float = DEFAULT_DEADLINE_S) -> PrintResult:
    """Printer health without printing: online, paper, cover, where the hardware reports it."""
    result = send(printer, None, deadline_s)
    if result.ok and result.status == "printed":
        result.status = "ready"
    return result


def parse_spec(spec: str) -> Printer:
    """A printer on the command line: `network:HOST[:PORT]`, `usb:VID:PID`, `serial:DEVICE[:BAUD]`,
    `file:PATH`, `cups:QUEUE` or `none`, then options `,paper=58,profile=TM-T20II,timeout=2.5,text`."""
    head, *opts = spec.split(",")
    kind, _, rest = head.partition(":")
    kw: dict[str, Any] = {"driver": kind}
    if kind == "network":
        host, _, port = rest.rpartition(":") if rest.count(":") == 1 else (rest, "", "")
        kw.update(host=host, port=int(port) if port else 9100)
    elif kind == "usb":
        vid, _, pid = rest.partition(":")
        kw.update(usb_vendor=int(vid, 16), usb_product=int(pid, 16))
    elif kind == "serial":
        dev, _, baud = rest.partition(":")
        kw.update(device=dev, baudrate=int(baud) if baud else 9600)
    elif kind == "file":
        kw.update(device=rest)
    elif kind == "cups":
        kw.update(queue=rest)
    elif kind != "none":
        raise ValueError(f"unknown printer kind {kind!r} (network, usb, serial, file, cups, none)")
    for opt in opts:
        key, _, value = opt.partition("=")
        if key == "paper":
            kw["paper_mm"] = int(value)
        elif key == "profile":
            kw["profile"] = value
        elif key == "timeout":
            kw["timeout_s"] = float(value)
        elif key == "text":
            kw["text_mode"] = value.lower() not in ("0", "false", "no")
        else:
            raise ValueError(f"unknown printer option {key!r}")
    if kw.get("paper_mm", 80) not in (58, 80):
        raise ValueError("paper must be 58 or 80")
    return Printer(**kw)


def ticket_bytes(printer: Printer, data: TicketData) -> bytes:
    """The print job for a ticket on this printer: raster image (default) or text mode."""
    if printer.text_mode:
        return encode_text(data, printer.profile)
    return encode_image(render_ticket(data, paper_width(printer.paper_mm, printer.profile)), printer.profile)


def print_ticket(printer: Printer, data: TicketData, deadline_s: float = DEFAULT_DEADLINE_S) -> PrintResult:
    start = time.monotonic()
    if printer.driver == "none":
        return PrintResult(ok=True, status="none")
    payload = ticket_bytes(printer, data)
    return send(printer, payload, max(0.2, deadline_s - (time.monotonic() - start)))


def test_page_bytes(printer: Printer, center_name: str, site_name: str, kiosk_name: str, when: str) -> bytes:
    """A test page for this printer, as a raster at its width (the way tickets print by default)."""
    width = paper_width(printer.paper_mm, printer.profile)
    return encode_image(render_test_page(center_name, site_name, kiosk_name, when, width), printer.profile)


def print_test_page(printer: Printer, center_name: str, site_name: str, kiosk_name: str, when: str,
                    deadline_s: float = DEFAULT_DEADLINE_S) -> PrintResult:
    """Print a test page within `deadline_s`, like a ticket."""
    start = time.monotonic()
    if printer.driver == "none":
        return PrintResult(ok=True, status="none")
    payload = test_page_bytes(printer, center_name, site_name, kiosk_name, when)
    return send(printer, payload, max(0.2, deadline_s - (time.monotonic() - start)))
