"""Statements with named parameters, for asyncpg, which takes only ``$1, $2, …``.

A statement of many parameters is easy to break when they are numbers: one inserted in the
middle moves all the others. :class:`Named` lets the SQL say ``:pipeline_id`` and the call
say ``pipeline_id=…``; it turns them into ``$n`` once, when the module is loaded, so asyncpg
prepares and caches the same text every time.

    _SUBMIT = Named("INSERT INTO pipelines (id, name) VALUES (:id, :name)")
    await pool.execute(_SUBMIT.sql, *_SUBMIT.args(id=pipeline_id, name=name))

``::type`` casts are left alone (``:ids::uuid[]`` is the parameter ``ids``, cast), and so is
text in single quotes.
"""

from __future__ import annotations

import re
from typing import Any

# Quoted text (kept as it is), or a colon that is not part of a `::` cast, then a name.
_PARAMETER = re.compile(r"'(?:[^']|'')*'|(?<![:\w]):([a-z_][a-z0-9_]*)")


class Named:
    def __init__(self, sql: str) -> None:
        self.names: list[str] = []

        def number(match: re.Match[str]) -> str:
            name = match.group(1)
            if name is None:  # quoted text
                return match.group(0)
            if name not in self.names:
                self.names.append(name)
            return f"${self.names.index(name) + 1}"

        self.sql = _PARAMETER.sub(number, sql)

    def args(self, **values: Any) -> tuple[Any, ...]:
        """The values in the order of their numbers; every name must be given, and no other."""
        if values.keys() != set(self.names):
            missing = sorted(set(self.names) - values.keys())
            unknown = sorted(values.keys() - set(self.names))
            raise TypeError(f"statement parameters: missing {missing}, unknown {unknown}")
        return tuple(values[name] for name in self.names)
