"""Ordering the stages of a DAG by name."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def unorderable(dependencies: Mapping[str, Iterable[str]]) -> set[str]:
    """The stages no order can place: those on a cycle, or behind one (Kahn's algorithm).
    Empty for a DAG. ``dependencies`` maps each stage to the stages it depends on."""
    waiting = {name: set(deps) for name, deps in dependencies.items()}
    ready = [name for name, deps in waiting.items() if not deps]
    while ready:
        done = ready.pop()
        del waiting[done]
        for name, deps in waiting.items():
            if done in deps:
                deps.discard(done)
                if not deps:
                    ready.append(name)
    return set(waiting)
