"""Web pages of the core: sign-in, sign-out and the start page that links every screen."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from flask import Blueprint, make_response, redirect, render_template, request, session, url_for

from ..errors import QueueError
from ..queue.actors import Actor
from .auth import allowed
from .clients import client_address
from .request import center, current_actor

bp = Blueprint("pages", __name__)


class SignInFirst(Exception):
    """A staff page asked by nobody signed in (`signed_in`): answered by the sign-in page, back here after."""


def signed_in() -> Actor:
    """The signed-in caller of a staff page. Nobody: a redirect to the sign-in page that returns to this
    page with its query (every page the same way; JSON routes answer 401 instead, `center.web.request.require`)."""
    actor = current_actor()
    if actor is None:
        raise SignInFirst()
    return actor


@bp.app_errorhandler(SignInFirst)
def _sign_in_first(_e: SignInFirst) -> Any:
    return redirect(url_for("pages.login", next=request.full_path.rstrip("?")))


def safe_next(target: str | None, actor: Actor | None = None) -> str:
    """Only same-site paths: a sign-in link must not bounce staff to another host. Without one (or with an
    unsafe one), where the signed-in person works (`landing`)."""
    if not target:
        return landing(actor)
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return landing(actor)
    return target


def landing(actor: Actor | None) -> str:
    """Where a sign-in without `next` leads: managers and admins to the overview; staff to the counter they
    hold now or took last (at a site served here), else to the start page's list of counters to choose one."""
    if actor is None:
        return url_for("pages.index")
    if allowed(actor, "reports.read"):
        return url_for("manager.overview")
    if not allowed(actor, "counter.operate"):
        return url_for("pages.index")
    c = center()
    with c.store.read() as conn:
        held = conn.execute("SELECT counter_id FROM counter_state WHERE staff = ? AND status != 'closed' "
                            "ORDER BY since DESC", (actor.name,)).fetchall()
        last = conn.execute("SELECT counter_id FROM counter_events WHERE staff = ? AND kind = 'open' "
                            "ORDER BY at DESC, id DESC LIMIT 20", (actor.name,)).fetchall()
    for row in [*held, *last]:
        counter = c.config.counter(row[0])
        if counter is not None and c.config.node_of_site(counter.site) is None:
            return url_for("counter.counter_page", counter_id=counter.id)
    return url_for("pages.index", _anchor="counters")


@bp.get("/")
def index() -> Any:
    c = center()
    return render_template("index.html", config=c.config, actor=current_actor())


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    error = None
    if request.method == "POST":
        c = center()
        try:
            actor, cred = c.accounts.authenticate(request.form.get("username", ""), request.form.get("password", ""),
                                                   client_address(request.environ, c.config.security))
        except QueueError as e:
            error = e
        else:
            session.clear()
            session.permanent = True
            session["uid"] = cred.id
            session["gen"] = cred.gen  # the session ends when the account's generation moves on
            return redirect(safe_next(request.args.get("next"), actor))
    resp = make_response(render_template("login.html", error=error, next=request.args.get("next", "")),
                         error.status if error else 200)
    if error is not None and "retry_after" in error.details:
        resp.headers["Retry-After"] = str(max(1, round(float(error.details["retry_after"]))))  # type: ignore[arg-type]
    return resp


@bp.post("/logout")
def logout() -> Any:
    """Ends every session of the account, not only this cookie: a copy taken earlier stops working too."""
    if isinstance(session.get("uid"), int) and current_actor() is not None:
        center().accounts.end_sessions(session["uid"])
    session.clear()
    return redirect(url_for("pages.login"))
