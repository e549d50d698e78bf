"""The font the server serves to browsers at /fonts/: the same Noto Sans file that draws printed tickets
(its location is defined once, in printer_drivers.fonts)."""

from __future__ import annotations

from printer_drivers.fonts import FONT_DIR, FONT_FILE

__all__ = ["FONT_DIR", "FONT_FILE", "FONT_URL"]

FONT_URL = "/fonts/NotoSans%5Bwdth,wght%5D.ttf"
