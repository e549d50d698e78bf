"""Kiosk screens (placeholder routes; the kiosk issue fills them in)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from center.web import center

bp = Blueprint("kiosk", __name__, template_folder="templates", static_folder="static",
               static_url_path="/kiosk/static")


@bp.get("/kiosk/<kiosk_id>")
def kiosk_page(kiosk_id: str) -> Any:
    kiosk = center().config.kiosk(kiosk_id)
    return render_template("kiosk/placeholder.html", kiosk=kiosk)
