"""Reconciliation rules of ``dataset.quality``: counts and sums that must agree between
layers, such as "bronze rows = silver rows + duplicates removed + rows dropped" or "the sum of
amount in silver equals gold's revenue within a cent".

Each side of a rule adds up terms:

- ``{"rows": "silver"}``: the rows of a dependency's dataset (``"@source"``: this stage's
  source, ``"@passed"``: the rows that passed its rules, ``"@quarantined"``: those that did
  not); or a dataset named directly, ``{"rows": {"uri": ..., "version": 3}}`` (an upload's
  bronze version, say);
- ``{"sum": "amount", "of": "silver"}``: the sum of a column (nulls left out);
- ``{"output": "silver", "path": "removed.duplicates"}``: a number in a dependency's output;
- ``{"value": 0.5}``: a number.

A rule holds when the sides differ by at most ``tolerance``, or ``relativeTolerance`` of the
larger side. Sums are computed with SQL over the Lance dataset (DataFusion), reading only
the column summed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import lance
import msgspec

from worker_sdk.context import JobContext
from worker_sdk.errors import TerminalError
from worker_sdk.templates.dataset.refs import Source, open_source, require_columns

# This stage's own datasets, as terms name them.
SOURCE, PASSED, QUARANTINED = "@source", "@passed", "@quarantined"


class Term(msgspec.Struct, forbid_unknown_fields=True):
    # A dependency's name, an @-name, or a dataset named directly.
    rows: str | Source | None = None
    sum: str | None = None
    of: str | Source | None = None
    output: str | None = None
    path: str | None = None
    value: float | None = None

    def __post_init__(self) -> None:
        kinds = [
            self.rows is not None,
            self.sum is not None,
            self.output is not None,
            self.value is not None,
        ]
        if sum(kinds) != 1:
            raise msgspec.ValidationError(
                "a term is one of {rows}, {sum, of}, {output, path} or {value}"
            )
        if (self.sum is None) != (self.of is None) or (self.output is None) != (self.path is None):
            raise msgspec.ValidationError("a sum needs `of`, an output needs `path`")

    def label(self) -> str:
        if self.rows is not None:
            return f"rows({_named(self.rows)})"
        if self.sum is not None:
            assert self.of is not None
            return f"sum({_named(self.of)}.{self.sum})"
        if self.output is not None:
            return f"{self.output}.{self.path}"
        return repr(self.value)


def _named(dataset: str | Source) -> str:
    if isinstance(dataset, str):
        return dataset
    return dataset.uri if dataset.version is None else f"{dataset.uri}@{dataset.version}"


class Reconcile(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    left: Annotated[list[Term], msgspec.Meta(min_length=1, max_length=50)]
    right: Annotated[list[Term], msgspec.Meta(min_length=1, max_length=50)]
    tolerance: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    relative_tolerance: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.0


@dataclass(frozen=True)
class Own:
    """This stage's datasets and counts, for the @-terms. The passing rows are not written
    yet when the rules are reconciled: they are the source without the quarantined ones."""

    source: lance.LanceDataset
    quarantined: lance.LanceDataset


def reconcile(ctx: JobContext, rules: list[Reconcile], own: Own) -> list[dict[str, Any]]:
    """Each rule's sides, their difference, and whether it holds."""
    measure = _Measure(ctx, own)
    results = []
    for rule in rules:
        left = sum(measure(term) for term in rule.left)
        right = sum(measure(term) for term in rule.right)
        difference = abs(left - right)
        allowed = max(rule.tolerance, rule.relative_tolerance * max(abs(left), abs(right)))
        results.append(
            {
                "name": rule.name,
                "left": left,
                "right": right,
                "difference": difference,
                "allowed": allowed,
                "passed": difference <= allowed,
                "terms": {
                    "left": [t.label() for t in rule.left],
                    "right": [t.label() for t in rule.right],
                },
            }
        )
    return results


class _Measure:
    def __init__(self, ctx: JobContext, own: Own) -> None:
        self._ctx, self._own = ctx, own
        # By (dataset, column summed); a dataset named directly by its URI and version.
        self._cache: dict[tuple[str, str | None], float] = {}

    def __call__(self, term: Term) -> float:
        if term.value is not None:
            return _finite(term.value, term)
        if term.output is not None:
            return self._from_output(term)
        name = term.rows if term.rows is not None else term.of
        assert name is not None
        key = (name if isinstance(name, str) else f"source:{_named(name)}", term.sum)
        if key not in self._cache:
            self._cache[key] = self._measured(name, term)
        return self._cache[key]

    def _measured(self, name: str | Source, term: Term) -> float:
        if name == PASSED:  # the source less the quarantined rows
            source = self._measured(SOURCE, term)
            return source - self._measured(QUARANTINED, term)
        dataset = self._dataset(name)
        if term.rows is not None:
            return float(dataset.count_rows())
        assert term.sum is not None
        require_columns(dataset.schema, [term.sum], f"reconciliation {term.label()}")
        column = '"' + term.sum.replace('"', '""') + '"'
        query = dataset.sql(f"SELECT sum({column}) AS total FROM dataset").build()
        [batch] = query.to_batch_records()
        total = batch.to_pylist()[0]["total"]
        return _finite(total or 0, term)

    def _dataset(self, name: str | Source) -> lance.LanceDataset:
        if name == SOURCE:
            return self._own.source
        if name == QUARANTINED:
            return self._own.quarantined
        return open_source(self._ctx, name, role="reconciled dataset")

    def _from_output(self, term: Term) -> float:
        assert term.output is not None
        assert term.path is not None
        found: Any = self._ctx.dependencies.get(term.output)
        if found is None:
            raise TerminalError(
                f"{term.label()}: {term.output!r} is not a stage this one depends on",
                code="unknown_source",
            )
        for part in term.path.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        if isinstance(found, bool) or not isinstance(found, (int, float)):
            raise TerminalError(
                f"{term.label()} is not a number in that stage's output", code="invalid_input"
            )
        return _finite(found, term)


def _finite(value: float | int | Decimal, term: Term) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise TerminalError(f"{term.label()} is not a finite number", code="invalid_input")
    return number


def summary(results: list[dict[str, Any]], describe: Callable[[float], str] = repr) -> str:
    """The rules that did not hold, for a message."""
    return "; ".join(
        f"{r['name']}: {describe(r['left'])} vs {describe(r['right'])} "
        f"(off by {describe(r['difference'])}, {describe(r['allowed'])} allowed)"
        for r in results
        if not r["passed"]
    )
