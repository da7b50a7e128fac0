"""The modules at the root keep to their layer (import-linter, in `make lint`, checks the
packages): extensions.py, clock.py, config.py, twilio_rest.py and mailer.py import no package
of the project, and no package imports app.py, worker.py or health.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = {
    "webhooks",
    "admin",
    "board",
    "console",
    "live",
    "routing",
    "ivr",
    "register",
    "directory",
}
BASE = ("extensions", "clock", "config", "twilio_rest", "mailer", "livebus", "recording_media")
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


# Where an import inside a function is the pattern, not a hidden cycle: the app factory and
# a package's init_app import the package's own modules (which import the package itself).
FACTORIES = {"create_app", "init_app"}


def function_level_imports(path: Path) -> list[str]:
    """The project modules ``path`` imports inside a function other than a factory."""
    found: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                visit(child, child.name not in FACTORIES)
                continue
            if in_function and isinstance(child, ast.Import | ast.ImportFrom):
                names = (
                    [child.module or ""]
                    if isinstance(child, ast.ImportFrom)
                    else [alias.name for alias in child.names]
                )
                top = {name.split(".")[0] for name in names}
                if top & (PACKAGES | TOP | set(BASE)):
                    found.append(f"{path.relative_to(ROOT)}:{child.lineno}")
            visit(child, in_function)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return found


def test_project_modules_are_imported_at_the_top_of_the_module() -> None:
    """An import of the project's own code inside a function (not a factory) would hide a
    cycle or a layer break from the reader; import-linter sees it, a newcomer does not."""
    sources = [
        path
        for path in ROOT.rglob("*.py")
        if path.relative_to(ROOT).parts[0] not in {".venv", "tests", "migrations", "node_modules"}
        and path.name != "gunicorn.conf.py"
    ]
    assert [spot for path in sources for spot in function_level_imports(path)] == []
