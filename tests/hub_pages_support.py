"""Helpers for the province pages' tests: hub accounts made with the real CLI, a browser-like signed-in session,
and a center server that pushes to the hub."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import requests

from tests.conftest import PASSWORD, ROOT, Server


def add_hub_user(config: Path, name: str, role: str, center: str | None = None, password: str = PASSWORD) -> str:
    """`xephang hub user add …` with the password on stdin, as an administrator runs it."""
    args = [sys.executable, "-m", "center", "hub", "user", "add", name, "--role", role, "--password-stdin",
            "--config", str(config)] + (["--center", center] if center else [])
    out = subprocess.run(args, cwd=ROOT, input=password + "\n", capture_output=True, text=True, check=True)
    return out.stdout


def hub_session(hub_url: str, user: str, password: str = PASSWORD) -> requests.Session:
    """A cookie session signed in through /hub/login with the form's CSRF token."""
    s = requests.Session()
    page = s.get(hub_url + "/hub/login", timeout=10).text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, page[:500]
    r = s.post(hub_url + "/hub/login", data={"username": user, "password": password, "csrf_token": token.group(1)},
               allow_redirects=False, timeout=30)
    assert r.status_code == 302, r.text[:500]
    return s


def center_server(directory: Path, accounts_template: tuple[Path, dict[str, str]], config: Path) -> Server:
    """A started center on a copy of the accounts database, pushing to its hub every 0.2 s."""
    db = directory / "center.sqlite3"
    shutil.copyfile(accounts_template[0], db)
    secret = accounts_template[0].with_suffix(".secret")
    if secret.exists():
        shutil.copyfile(secret, db.with_suffix(".secret"))
    return Server(db=db, config=config, tokens=dict(accounts_template[1]), env={"XEPHANG_SYNC_PASS_S": "0.2"}).start()
