"""Waiting-room display and public status page (placeholder routes; the display issue fills them in)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("display", __name__, template_folder="templates", static_folder="static",
               static_url_path="/display/static")


@bp.get("/display/<display_id>")
def display_page(display_id: str) -> Any:
    return render_template("display/placeholder.html", what=display_id)


@bp.get("/status/<site>")
def status_page(site: str) -> Any:
    return render_template("display/placeholder.html", what=site)
