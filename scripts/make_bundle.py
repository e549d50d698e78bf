"""`make bundle`: one archive to install a center (or a kiosk PC's print agent) with no internet.

    python scripts/make_bundle.py [--out dist]   ->  dist/xephang-bundle-0.1.0-cp311-linux_x86_64.tar.gz

The archive holds every wheel the server needs, pinned and hash-checked from requirements.lock (built
for the Python and platform that run this script), the wheels of xephang and xephang-agent themselves
(with the templates and the front-end libraries inside), the front-end libraries and the font as loose
files too, the demo config.toml, requirements.lock, install.sh, deploy/ (systemd units, backup timer, nginx
example, node.toml), the docs (docs/, README.md) and INSTALL.md: the steps from the USB stick to a running,
enabled service, every file they name inside the bundle (tests/test_packaging.py follows them).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = {  # what the app serves from center/static/vendor, as `make setup` copies it from node_modules
    "socket.io.min.js": ROOT / "node_modules/socket.io-client/dist/socket.io.min.js",
    "chart.umd.min.js": ROOT / "node_modules/chart.js/dist/chart.umd.min.js",
}

INSTALL_SH = r"""#!/bin/sh
# Install xephang from this folder, with no internet.
#   ./install.sh /opt/xephang            the server (then: /opt/xephang/bin/xephang check-config …)
#   ./install.sh /opt/xephang-agent agent  the print agent of a kiosk PC (then: …/bin/xephang-agent --help)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: install.sh DEST [server|agent]}
what=${2:-server}
${PYTHON:-python3} -m venv "$dest"  # the same Python version as the bundle's name says (cp311: 3.11)
pip="$dest/bin/pip"
export PIP_CONFIG_FILE=/dev/null  # only this folder: no index, no local pip settings
if [ "$what" = agent ]; then
    "$pip" install --no-index --find-links "$here/wheels" xephang-agent
else
    # Every dependency at the version and hash of requirements.lock, then xephang itself.
    "$pip" install --no-index --find-links "$here/wheels" --require-hashes -r "$here/requirements.lock"
    "$pip" install --no-index --find-links "$here/wheels" --no-deps xephang
fi
echo "installed $what in $dest"
"""


# The bundle's own install steps: every path they name is in the bundle (tests/test_packaging.py checks it and
# runs the units' commands). {name} is the bundle's folder.
INSTALL_MD = """# Cài đặt xephang không cần Internet / Offline install

Gói này có đủ mọi thứ để cài một trung tâm: các gói Python (`wheels/`), `install.sh`, cấu hình mẫu
`config.toml`, các tệp systemd và nginx (`deploy/`) và tài liệu (`docs/`, `README.md`).
This folder holds everything a center's server needs: the Python wheels, `install.sh`, the example
`config.toml`, the systemd and nginx files (`deploy/`) and the documentation (`docs/`, `README.md`).

Trên máy chủ của trung tâm (Debian/Ubuntu, Python 3.11 có `venv`), trong thư mục này /
On the center's server (Debian/Ubuntu, Python 3.11 with `venv`), in this folder:

```sh
cd /tmp/{name}
sudo adduser --system --group --home /var/lib/xephang xephang
sudo mkdir -p /opt/xephang /etc/xephang /var/backups/xephang
sudo ./install.sh /opt/xephang/.venv
sudo cp config.toml /etc/xephang/config.toml
sudo chown xephang:xephang /var/backups/xephang && sudo chmod 0750 /var/backups/xephang
/opt/xephang/.venv/bin/xephang check-config /etc/xephang/config.toml
echo 'a long passphrase' | sudo -u xephang /opt/xephang/.venv/bin/xephang --db /var/lib/xephang/xephang.sqlite3 \\
    user add admin --role admin --password-stdin
sudo -u xephang /opt/xephang/.venv/bin/xephang --db /var/lib/xephang/xephang.sqlite3 \\
    token create --device main-kiosk-1 --config /etc/xephang/config.toml --base-url http://192.168.1.10
sudo cp deploy/xephang.service deploy/xephang-backup.service deploy/xephang-backup.timer /etc/systemd/system/
sudo systemctl daemon-reload
sudo systemctl enable --now xephang.service xephang-backup.timer
curl -s http://127.0.0.1:8080/api/health
```

Sửa `/etc/xephang/config.toml` (điểm tiếp nhận, quầy, máy in) trước khi bật dịch vụ; `token create` in địa chỉ
mở một lần trên từng kiosk và màn hình. Edit `/etc/xephang/config.toml` (sites, counters, printers) before
starting the service; `token create` prints the address to open once on each kiosk and display.

- nginx, HTTPS: `docs/deploy.md` mục 3 (`deploy/nginx.conf`).
- Sao lưu hằng ngày / daily backups: `deploy/xephang-backup.timer`, `docs/deploy.md` mục 6.
- Điểm tiếp nhận thứ hai, tổ lưu động / second reception point, mobile team: `deploy/node.toml`,
  `docs/federation.md`.
- Máy in gắn vào PC kiosk / a kiosk PC's print agent: `sudo ./install.sh /opt/xephang-agent agent`
  (`docs/kiosk.md`).
"""


def version() -> str:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]


def platform_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}-" + sysconfig.get_platform().replace("-", "_")


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], check=True, cwd=ROOT)


def build(out: Path) -> Path:
    missing = [str(p) for p in VENDOR.values() if not p.exists()]
    if missing:
        raise SystemExit(f"missing front-end files {missing}: run `make setup` first (npm ci)")
    served = ROOT / "center/static/vendor"  # inside the xephang wheel: the installed app serves them
    served.mkdir(parents=True, exist_ok=True)
    for file in VENDOR.values():
        shutil.copy2(file, served)
    name = f"xephang-bundle-{version()}-{platform_tag()}"
    stage = out / name
    shutil.rmtree(stage, ignore_errors=True)
    wheels = stage / "wheels"
    wheels.mkdir(parents=True)
    # The dependencies, hash-checked; a package published only as source is built into a wheel here.
    pip("wheel", "-q", "--require-hashes", "-r", "requirements.lock", "-w", str(wheels))
    # xephang and the agent, built from this tree (a fresh build dir: no stale files from an earlier build).
    for project in (ROOT, ROOT / "agent-package"):
        shutil.rmtree(project / "build", ignore_errors=True)
    pip("wheel", "-q", "--no-deps", ".", "./agent-package", "-w", str(wheels))
    assets = stage / "assets"
    (assets / "vendor").mkdir(parents=True)
    for file in VENDOR.values():
        shutil.copy2(file, assets / "vendor")
    sys.path.insert(0, str(ROOT))
    from printer_drivers.fonts import FONT_DIR, FONT_FILE

    (assets / "fonts").mkdir()
    shutil.copy2(FONT_FILE, assets / "fonts")
    for license_file in FONT_DIR.glob("OFL*"):
        shutil.copy2(license_file, assets / "fonts")
    for file in ("config.toml", "requirements.lock", "README.md"):
        shutil.copy2(ROOT / file, stage / file)
    # The units, the backup timer, nginx and node.toml, and the docs the install steps send IT to.
    for folder in ("deploy", "docs"):
        shutil.copytree(ROOT / folder, stage / folder)
    (stage / "INSTALL.md").write_text(INSTALL_MD.format(name=name), encoding="utf-8")
    script = stage / "install.sh"
    script.write_text(INSTALL_SH, encoding="utf-8")
    script.chmod(0o755)
    archive = out / f"{name}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(stage, arcname=name)
    shutil.rmtree(stage)
    return archive


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=str(ROOT / "dist"), help="output folder (default dist/)")
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    archive = build(out)
    with tarfile.open(archive) as tar:
        count = sum(1 for m in tar.getnames() if m.endswith(".whl"))
    print(f"{archive} ({os.path.getsize(archive) / 1e6:.1f} MB, {count} wheels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
