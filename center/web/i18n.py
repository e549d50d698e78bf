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


# What each role is called on screen (the codes stay in forms, the API and config).
ROLE_NAMES = {"admin": ("quản trị", "administrator"), "manager": ("quản lý", "manager"), "staff": ("cán bộ", "staff"),
              "kiosk": ("kiosk lấy số", "ticket kiosk"), "display": ("màn hình gọi số", "call display")}


def role_name(role: str | None) -> str:
    """A role in the reader's language; an unknown code is shown as it is."""
    names = ROLE_NAMES.get(role or "")
    return tr(*names) if names else (role or "")
