"""The walls of the house: which package may import which.

``app`` (the shell) imports none of the packages; ``features`` (the record)
only the shell; ``models`` (what a trained model is) features and the shell;
``training`` features, models and the shell; ``serving`` features, models and
the shell — never ``training``: a service worker carries the model, not the
training stack.  Every import counts, at module level or inside a function.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "features", "models", "training", "serving")
#: What each package may import of the others (itself always).
ALLOWED = {
    "app": set(),
    "features": {"app"},
    "models": {"app", "features"},
    "training": {"app", "features", "models"},
    "serving": {"app", "features", "models"},
}


def imported_modules(source: str) -> Iterator[tuple[int, str]]:
    """``(line, module)`` of every absolute import in a module's source."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative imports stay inside their package
                continue
            yield node.lineno, node.module or ""


def forbidden_imports(package: str, source: str) -> list[str]:
    """The imports of a module of ``package`` that cross a wall, as ``line: module``."""
    others = set(PACKAGES) - {package} - ALLOWED[package]
    return [
        f"{line}: {module}"
        for line, module in imported_modules(source)
        if module.split(".")[0] in others
    ]


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_every_package_is_checked_and_has_modules():
    for package in PACKAGES:
        assert _modules(package), package


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_crosses_a_wall(package):
    crossings = {
        str(path.relative_to(ROOT)): found
        for path in _modules(package)
        if (found := forbidden_imports(package, path.read_text(encoding="utf-8")))
    }
    assert crossings == {}


@pytest.mark.parametrize(
    ("package", "source", "crossing"),
    [
        ("serving", "from training.train import train\n", "1: training.train"),
        ("serving", "def f():\n    import training.cli\n", "2: training.cli"),
        ("models", "from serving import schemas\n", "1: serving"),
        ("features", "from models.triage import Triage\n", "1: models.triage"),
        ("app", "import features.record\n", "1: features.record"),
    ],
)
def test_the_check_sees_a_crossing_wherever_it_is(package, source, crossing):
    assert forbidden_imports(package, source) == [crossing]


def test_the_check_lets_allowed_imports_through():
    source = "import numpy\nfrom features.record import FIELDS\nfrom models import registry\n"
    assert forbidden_imports("serving", source) == []
    assert forbidden_imports("training", source) == []
