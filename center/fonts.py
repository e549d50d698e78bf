"""Where the Vietnamese-capable font lives: Noto Sans, installed from PyPI by `make setup`.

The same file draws printed tickets (Pillow) and is served to browsers at /fonts/, so no screen or
ticket depends on a font from the internet or on what the kiosk PC happens to have.
"""

from __future__ import annotations

from pathlib import Path

import fontpkg_noto_sans

FONT_DIR = Path(fontpkg_noto_sans.__file__).parent / "files"
FONT_FILE = FONT_DIR / "NotoSans[wdth,wght].ttf"
FONT_URL = "/fonts/NotoSans%5Bwdth,wght%5D.ttf"
