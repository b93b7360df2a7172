"""The imports flow one way: the command line → the APIs and the built-in worker → the effects
of a commit → the engine → the database. Each rule here is read from the source (every
``import``, at any depth, including those inside functions), so an arrow drawn back up the
house fails the suite, wherever it is written."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
import typing
from pathlib import Path

import msgspec
import pytest

import controlplane.engine
import controlplane.errors

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
    (
        "controlplane.broker",
        (
            "controlplane.api",
            "controlplane.effects",
            "controlplane.engine",
            "controlplane.services",
            "controlplane.outages",
        ),
    ),
    ("worker_sdk", ("pipelogiq", "controlplane", "builtin_worker", "database")),
]


@pytest.mark.parametrize(("package", "forbidden"), RULES, ids=[rule[0] for rule in RULES])
def test_imports_flow_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    assert reaching(package, forbidden) == []


def test_the_rules_see_an_import_written_inside_a_function() -> None:
    # The composition root imports lazily, inside functions: the walk must see those too.
    assert "builtin_worker" in imports_of("pipelogiq")["pipelogiq.cli"]


def _structs_in(hint: object) -> list[type]:
    """The msgspec Structs a type hint names, at any depth (``list[Job] | None``...)."""
    if isinstance(hint, type) and issubclass(hint, msgspec.Struct):
        return [hint]
    return [s for arg in typing.get_args(hint) for s in _structs_in(arg)]


def test_the_engine_answers_in_its_own_records_not_wire_shapes() -> None:
    # The answers' wire shapes (camelCase, documented in OpenAPI) are the APIs' to choose;
    # the engine returns dataclasses, and the API converts them (controlplane.api.wire).
    returning: list[str] = []
    package = controlplane.engine
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        module = importlib.import_module(info.name)
        functions = [
            (name, member)
            for name, member in vars(module).items()
            if inspect.isfunction(member)
            and member.__module__ == module.__name__
            and not name.startswith("_")
        ]
        functions += [
            (f"{name}.{method_name}", method)
            for name, member in vars(module).items()
            if inspect.isclass(member) and member.__module__ == module.__name__
            for method_name, method in vars(member).items()
            if inspect.isfunction(method) and not method_name.startswith("_")
        ]
        for name, function in functions:
            returned = typing.get_type_hints(function).get("return")
            wire = [s for s in _structs_in(returned) if s.__module__.startswith("controlplane")]
            # The engine's own Structs are formats it reads (a definition file, a policy's
            # config), not answers of an API.
            wire = [s for s in wire if not s.__module__.startswith("controlplane.engine")]
            # A request shape is what the engine is asked (a schedule's run asks as a client
            # would); only answers are the APIs' own.
            wire = [s for s in wire if "_Request" not in {k.__name__ for k in s.__mro__}]
            returning += [f"{module.__name__}.{name} -> {s.__name__}" for s in wire]
    assert returning == []


def test_errors_name_kinds_and_leave_statuses_to_the_api() -> None:
    kinds = [controlplane.errors.ProblemError, *controlplane.errors.ProblemError.__subclasses__()]
    assert [k.__name__ for k in kinds if hasattr(k, "status")] == []
