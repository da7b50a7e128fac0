"""The modules at the root keep to their layer (import-linter, in `make lint`, checks the
packages): extensions.py, clock.py, config.py, twilio_rest.py and mailer.py import no package
of the project, and no package imports app.py, worker.py or health.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {"webhooks", "admin", "console", "live", "routing", "ivr", "register", "directory"}
BASE = ("extensions", "clock", "config", "twilio_rest", "mailer", "livebus", "twilio_media")
TOP = {"app", "worker", "health", "metrics", "migrations_cli"}


def imported(path: Path) -> set[str]:
    """The top-level names of every module ``path`` imports, wherever the import statement is."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("module", BASE)
def test_a_base_module_imports_no_package_of_the_project(module: str) -> None:
    assert imported(ROOT / f"{module}.py") & (PACKAGES | TOP) == set()


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_no_package_imports_the_entry_points(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        assert imported(path) & TOP == set(), path
