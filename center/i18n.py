"""Vietnamese first, English available: one helper for the language of a request.

Pages write both texts side by side (`tr("Gọi số", "Call")`); the choice comes from `?lang=` or the
`lang` cookie, Vietnamese by default. Short and explicit beats a catalogue for a two-language app.
"""

from __future__ import annotations

from flask import request

LANGS = ("vi", "en")


def current_lang() -> str:
    lang = request.args.get("lang") or request.cookies.get("lang") or "vi"
    return lang if lang in LANGS else "vi"


def tr(vi: str, en: str) -> str:
    return en if current_lang() == "en" else vi
