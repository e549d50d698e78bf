"""Web pages of the core: sign-in, sign-out and the start page that links every screen."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, redirect, render_template, request, session, url_for

from .errors import QueueError
from .web import center, current_actor

bp = Blueprint("pages", __name__)


def safe_next(target: str | None) -> str:
    """Only same-site paths: a sign-in link must not bounce staff to another host."""
    if not target:
        return url_for("pages.index")
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("pages.index")
    return target


@bp.get("/")
def index() -> Any:
    c = center()
    return render_template("index.html", config=c.config, actor=current_actor())


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        try:
            actor = center().accounts.authenticate(request.form.get("username", ""), request.form.get("password", ""))
        except QueueError as e:
            error = e
        else:
            user = center().accounts.user(actor.name)
            session.clear()
            session.permanent = True
            session["uid"] = user["id"]
            return redirect(safe_next(request.args.get("next")))
    return render_template("login.html", error=error, next=request.args.get("next", "")), 401 if error else 200


@bp.post("/logout")
def logout() -> Any:
    session.clear()
    return redirect(url_for("pages.login"))
