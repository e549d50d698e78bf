"""How the packages depend on each other: the print agent's package stands alone, without import circles.

printer_drivers is installed on kiosk PCs without the server (agent-package/, tested end to end by
test_packaging.py); these checks read the source, so a new `from center…` or a circle fails in the fast tier.
"""

from __future__ import annotations

import ast
import subprocess
import sys

from tests.conftest import ROOT

PACKAGE = ROOT / "printer_drivers"


def imports_of(path) -> set[str]:
    """Every module a file imports, at the top or inside a function, with relative imports made absolute."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = f"printer_drivers.{node.module}" if node.level else node.module or ""
            if node.level and not node.module:
                found.update(f"printer_drivers.{alias.name}" for alias in node.names)
            else:
                found.add(base)
    return found


def test_printer_drivers_imports_nothing_of_the_server():
    for path in PACKAGE.glob("*.py"):
        server_modules = {m for m in imports_of(path) if m.split(".")[0] in ("center", "kiosk", "counter", "display",
                                                                             "manager", "flask", "gevent", "redis")}
        assert not server_modules, f"{path.name} imports {server_modules}"


def test_printer_drivers_has_no_import_circle():
    graph = {p.stem: {m.split(".")[1] for m in imports_of(p) if m.startswith("printer_drivers.")}
             for p in PACKAGE.glob("*.py")}

    def reaches(start: str, target: str, seen: frozenset = frozenset()) -> bool:
        return any(n == target or (n not in seen and reaches(n, target, seen | {n})) for n in graph.get(start, ()))

    circles = [m for m in graph if reaches(m, m)]
    assert not circles, f"import circle through {circles}: {graph}"


def test_the_agent_module_loads_without_loading_the_server():
    code = ("import sys, printer_drivers.agent; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'center', 'flask', 'gevent', 'socketio'}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_the_server_runs_device_writes_on_its_native_thread_pool():
    """In the gevent worker a USB/serial write blocked in C would freeze every screen: the server hands the
    drivers center.offload.run, the agent (no server) keeps a plain thread."""
    from center import offload
    from center.output import printing  # noqa: F401 - importing the server's printing wires the runner
    from printer_drivers import drivers

    assert drivers._run_blocking is offload.run


SERVER_PACKAGES = ("center", "kiosk", "counter", "display", "manager", "printer_drivers")
# center/'s folders, bottom up (docs/architecture.md, "The parts"): each imports only the folders it lists.
LAYERS = {"config": set(), "storage": {"config"}, "queue": {"config", "storage"},
          "output": {"config", "storage", "queue"}, "reports": {"config", "storage", "queue"},
          "web": {"config", "storage", "queue", "output", "reports"},
          "sync": {"config", "storage", "queue", "web"},
          "hub": {"config", "storage", "queue", "reports", "web", "sync"}}


def absolute_imports(path) -> set[str]:
    """Every module a file imports (at the top or inside a function), relative imports made absolute."""
    package = path.relative_to(ROOT).parent.parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            if node.module:
                found.add(module)
            else:
                found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_center_folders_import_only_the_folders_below_them():
    """The core reads bottom up: config ← storage ← queue ← output, reports ← web (app.py, server.py and the
    command line on top wire them). A storage module reaching for the engine, or the engine for the web
    layer, would make a circle the folders no longer show."""
    wrong = {}
    for folder, allowed in LAYERS.items():
        for path in sorted((ROOT / "center" / folder).glob("*.py")):
            used = {m.split(".")[1] for m in absolute_imports(path) if m.startswith("center.")
                    and len(m.split(".")) > 1} & set(LAYERS)
            if bad := used - allowed - {folder}:
                wrong[f"center/{folder}/{path.name}"] = sorted(bad)
    assert not wrong, f"imports against the layers of docs/architecture.md: {wrong}"


def test_no_server_module_is_over_600_lines():
    """A module a newcomer opens fits in one sitting: the engine's operations, views and estimate glue are
    separate modules, config.toml's model and its reader too (issue 14)."""
    long = {str(p.relative_to(ROOT)): n for package in SERVER_PACKAGES for p in (ROOT / package).rglob("*.py")
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600}
    assert not long, long
