"""The imports flow one way: the command line → the APIs and the built-in worker → the effects
of a commit → the engine → the database. Each rule here is read from the source (every
``import``, at any depth, including those inside functions), so an arrow drawn back up the
house fails the suite, wherever it is written."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def imports_of(package: str) -> dict[str, set[str]]:
    """Each module of ``package`` (a dotted name), with every module it imports."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package.replace(".", "/")).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        found[module] = names
    return found


def reaching(package: str, forbidden: tuple[str, ...]) -> list[str]:
    """``module -> import`` for each import of ``package`` into a forbidden one."""
    return [
        f"{module} -> {name}"
        for module, names in imports_of(package).items()
        for name in sorted(names)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


# (the package, what it must never import)
RULES = [
    ("controlplane", ("pipelogiq", "builtin_worker")),
    ("builtin_worker", ("pipelogiq", "controlplane.api")),
    ("database", ("pipelogiq", "controlplane", "builtin_worker", "worker_sdk")),
    (
        "controlplane.engine",
        ("controlplane.api", "controlplane.effects", "controlplane.services", "litestar"),
    ),
    ("controlplane.effects", ("controlplane.api", "controlplane.services", "litestar")),
    ("worker_sdk", ("pipelogiq", "controlplane", "builtin_worker", "database")),
]


@pytest.mark.parametrize(("package", "forbidden"), RULES, ids=[rule[0] for rule in RULES])
def test_imports_flow_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    assert reaching(package, forbidden) == []


def test_the_rules_see_an_import_written_inside_a_function() -> None:
    # The composition root imports lazily, inside functions: the walk must see those too.
    assert "builtin_worker" in imports_of("pipelogiq")["pipelogiq.cli"]
