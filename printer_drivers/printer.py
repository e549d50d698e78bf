"""How a kiosk prints, as plain values: read from `config.toml` by the server (center.config.read) and from
the `--printer` option by the print agent (drivers.parse_spec). It lives here, not in the server, so that
the agent on a kiosk PC installs without the server (agent-package/)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Printer:
    """How a kiosk prints: `driver` is network, usb, serial, file, cups, agent or none."""

    driver: str = "none"
    host: str = ""
    port: int = 9100
    usb_vendor: int = 0
    usb_product: int = 0
    device: str = ""
    baudrate: int = 9600
    queue: str = ""
    paper_mm: int = 80
    profile: str = "TM-T88V"
    timeout_s: float = 2.5
    text_mode: bool = False
