"""Manager overview and reports (placeholder route; the manager issue fills it in)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

bp = Blueprint("manager", __name__, template_folder="templates", static_folder="static",
               static_url_path="/manager/static")


@bp.get("/manager/")
def overview() -> Any:
    return render_template("manager/placeholder.html")
