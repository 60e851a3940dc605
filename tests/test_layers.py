"""The one direction of flow, checked: each package imports only the layers below it.

docs/ARCHITECTURE.md draws adapters → pipeline → store + bus → consumers. A drawing cannot stop
an import that points the other way; this test does, and names the file and line that break it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import wattwise

SRC = Path(wattwise.__file__).parent

# What each top-level package of ours may import (besides itself). ``None``: anything.
ALLOWED: dict[str, set[str] | None] = {
    "domain": set(),
    "bus": set(),
    "config": set(),
    "analysis": {"domain"},
    "store": {"domain"},
    "devices": {"domain"},
    "mqtt_session": set(),
    "bus_link": {"bus", "config", "domain", "mqtt_session", "store"},
    "ingest": {"bus", "config", "domain", "mqtt_session", "store", "runtime"},
    "runtime": {"bus", "config", "domain", "ingest", "store"},
    "accounting": {"analysis", "config", "domain", "runtime", "store"},
    "detectors": {"analysis", "bus", "config", "domain", "runtime", "store"},
    "alerts": {"accounting", "analysis", "bus", "config", "detectors", "domain", "runtime", "store"},
    "export": {"domain", "runtime", "store"},
    "consumers": {"alerts", "detectors", "runtime", "store"},
    "integrations": {"bus", "domain", "ingest", "runtime", "store"},
    "api": None,
    "ui": None,
    "cli": None,
}


def _imports(path: Path) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return [(line, name) for line, name in found if name.startswith("wattwise.")]


def _package(path: Path) -> str:
    return path.relative_to(SRC).parts[0].removesuffix(".py")


def test_every_package_has_a_place_in_the_layers() -> None:
    packages = {_package(p) for p in SRC.rglob("*.py") if p.name != "__init__.py" or p.parent != SRC}
    packages.discard("__main__")
    assert packages <= set(ALLOWED), f"add these to ALLOWED (and docs/ARCHITECTURE.md): {packages - set(ALLOWED)}"


def test_no_package_imports_a_layer_above_it() -> None:
    wrong: list[str] = []
    for path in sorted(SRC.rglob("*.py")):
        package = _package(path)
        allowed = ALLOWED.get(package)
        if allowed is None:
            continue
        for line, name in _imports(path):
            target = name.split(".")[1]
            if target != package and target not in allowed:
                where = f"{path.relative_to(SRC.parent)}:{line}"
                wrong.append(f"{where} imports {name} ({package} may use {sorted(allowed)})")
    assert not wrong, "imports against the flow:\n" + "\n".join(wrong)
