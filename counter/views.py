"""Counter workstation (placeholder route; the counter issue fills it in)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("counter", __name__, template_folder="templates", static_folder="static",
               static_url_path="/counter/static")


@bp.get("/counter/<counter_id>")
def counter_page(counter_id: str) -> Any:
    return render_template("counter/placeholder.html", what=counter_id)
