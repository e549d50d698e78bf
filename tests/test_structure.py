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
    from center import offload, printing  # noqa: F401 - importing the server's printing wires the runner
    from printer_drivers import drivers

    assert drivers._run_blocking is offload.run
