"""Who acts, and why a counter pauses: shared by the engine, accounts, sockets and pages.

Kept apart from the engine so that the accounts (center/web/auth.py) and the web layer name a caller without
importing the queue engine.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """Who asks: a username (staff) or device id (kiosk, display), with its role."""

    name: str
    role: str
    site: str | None = None


SYSTEM = Actor("system", "admin")  # housekeeping, the command line

# Why a counter pauses: code → (Vietnamese, English) label, in the order the counter page offers them.
PAUSE_LABELS = {
    "break": ("Nghỉ giải lao", "Break"),
    "meeting": ("Họp", "Meeting"),
    "kiosk_help": ("Hỗ trợ tại kiosk", "Helping at the kiosk"),
    "paperwork": ("Xử lý hồ sơ", "Paperwork"),
    "other": ("Lý do khác", "Other"),
}
PAUSE_REASONS = tuple(PAUSE_LABELS)
