"""Where the Vietnamese-capable font lives: Noto Sans, installed from PyPI (fontpkg-noto-sans).

Tickets are drawn with it here; the server serves the same file to browsers (center.output.fonts), so no
screen or ticket depends on a font from the internet or on what the kiosk PC happens to have.
"""

from __future__ import annotations

from pathlib import Path

import fontpkg_noto_sans

FONT_DIR = Path(fontpkg_noto_sans.__file__).parent / "files"
FONT_FILE = FONT_DIR / "NotoSans[wdth,wght].ttf"
