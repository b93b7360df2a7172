"""The transform template's expression language: what it computes, and what it refuses."""

from __future__ import annotations

import re
import tracemalloc
from typing import Any

import pytest

from worker_sdk.templates.expressions import (
    MAX_SIZE,
    MAX_WORK,
    Expression,
    ExpressionError,
    render,
)

DATA = {
    "order": {
        "id": "A-1",
        "items": [{"sku": "x", "price": 2.5, "qty": 4}, {"sku": "y", "price": 10, "qty": 1}],
    },
    "customer": {"name": " Ada ", "vip": True, "_id": 7},
}


def evaluate(source: str, names: dict[str, Any] | None = None) -> Any:
    return Expression(source).evaluate(names if names is not None else {"data": DATA})


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("data.order.items[0].price * data.order.items[0].qty", 10.0),
        ("data.order.items[-1].sku", "y"),
        ("data.order.items[5]", None),  # past the end: null, as a missing key is
        ("data.order.missing", None),
        ("data['order']['id'] + '/' + lower(trim(data.customer.name))", "A-1/ada"),
        ("data.customer._id", 7),
        ("'gold' if data.customer.vip and len(data.order.items) > 1 else 'plain'", "gold"),
        ("sum([data.order.items[0].qty, data.order.items[1].qty])", 5),
        ("round(7 / 2)", 4),
        ("round(2 / 3, 2)", 0.67),
        ("7 // 2 + 7 % 2", 4),
        ("1 < 2 <= 2 != 3", True),
        ("'x' in ['x', 'y'] and not ('z' in ['x'])", True),
        ("coalesce(null, data.order.none, 3)", 3),
        ("{'id': data.order.id, 'n': len(data.order.items)}", {"id": "A-1", "n": 2}),
        ("number('12') + number('0.5')", 12.5),
        ("string(12) + string(true)", "12true"),
        ("split('a,b,c')[1:]", ["b", "c"]),
        ("get(data.order, 'id', 'none')", "A-1"),
        ("0 or '' or 'third'", "third"),
        ("-data.order.items[1].price", -10),
    ],
)
def test_computes_over_json(source: str, value: Any) -> None:
    assert evaluate(source) == value


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("__import__('os')", "no function '__import__'"),
        ("__import__('os').system('true')", "only these functions may be called"),
        ("data.__class__", None),  # a key lookup on a dict: null, never Python's attribute
        ("(lambda: 1)", "Lambda is not allowed"),
        ("(lambda: 1)()", "only these functions may be called"),
        ("[x for x in data]", "ListComp is not allowed"),
        ("2 ** 100000", "Pow is not allowed"),
        ("open('/etc/passwd')", "no function 'open'"),
        ("data.order.id.upper()", "only these functions may be called"),
        ("len(x=1)", "positional arguments only"),
        ("'a' * 10000000", f"more than {MAX_SIZE:,}"),
        ("nobody + 1", "no name 'nobody'"),
        ("1 / 0", "division by zero"),
        ("'a' < 1", "cannot compare a string with a number"),
        ("data.order.items.price", "reads a key of an object, not a list"),
        ("1 +", "not an expression"),
        ("x" * 3000, "more than 2000 characters"),
        ("upper(1)", "needs a string, got a number"),
    ],
)
def test_refuses_what_the_language_does_not_have(source: str, why: str | None) -> None:
    if why is None:
        assert evaluate(source) is None
        return
    with pytest.raises(ExpressionError, match=why.replace("(", r"\(").replace("*", r"\*")):
        evaluate(source)


def test_render_fills_a_json_template() -> None:
    template = {
        "total": "=data.order.items[0].price * data.order.items[0].qty + 10",
        "literal": "plain text",
        "escaped": "==not an expression",
        "list": ["=data.order.id", 1, None],
    }
    assert render(template, {"data": DATA}) == {
        "total": 20.0,
        "literal": "plain text",
        "escaped": "=not an expression",
        "list": ["A-1", 1, None],
    }


# Each would build a gigabyte or more; all are refused having built almost nothing.
@pytest.mark.parametrize(
    ("source", "data"),
    [
        ("join(['a' * 1000000] * 1000, '')", {}),  # 1,000 copies of a million characters
        ("join(['a'] * 1000, 'b' * 1000000)", {}),  # 999 separators of a million characters
        ("replace('a' * 1000000, 'a', 'b' * 1000)", {}),  # a million places, each 999 longer
        ("replace('a' * 1000, '', 'b' * 1000000)", {}),  # 1,001 places, between and around
        ("[[['x'] * 1000] * 1000] * 1000", {}),  # 1,000 items, a billion written out
        ("[data.rows] * 1000", {"rows": list(range(1_000_000))}),
        ("split(data.commas, ',')", {"commas": "," * 1_000_000}),  # a million and one items
        ("len(data.text + data.text)", {"text": "a" * 2_500_000}),  # 5 MB if it were built
    ],
)
def test_sizes_are_checked_before_the_value_is_built(source: str, data: dict[str, Any]) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError, match=f"more than {MAX_SIZE:,}") as refused:
            evaluate(source, {"data": data})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code == "expression_too_large"
    assert peak < 4_000_000  # bytes: the largest part built, 'a' * 1000000, is a million


def test_the_cap_counts_what_a_value_holds_written_out() -> None:
    # A list of a thousand lists of a thousand: a million items and more, though only 1,000
    # are the outer list's.
    with pytest.raises(ExpressionError, match="more than"):
        evaluate("[[1] * 1000] * 1000")
    assert len(evaluate("[[1] * 1000] * 500")) == 500  # 500,500 items written out
    assert len(evaluate("join(['a'] * 1000, 'c' * 1000)")) == MAX_SIZE  # the cap, exactly
    with pytest.raises(ExpressionError, match="more than"):
        evaluate("join(['a'] * 1001, 'c' * 1000)")
    assert evaluate("replace('aXa', 'X', '--')") == "a--a"
    assert evaluate("replace('ab', '', '-')") == "-a-b-"
    assert evaluate("split('a--b', '--')") == ["a", "b"]


def test_what_a_template_s_expressions_produce_counts_together() -> None:
    # One large value, named a thousand times: small in memory, a thousand times its size
    # once the output is encoded.
    names = {"data": {"big": "x" * 10_000}}
    assert render(["=data.big"] * 100, names) == ["x" * 10_000] * 100
    with pytest.raises(ExpressionError) as refused:
        render(["=data.big"] * 1000, names)
    assert refused.value.code == "expression_too_large"


def test_the_work_on_the_way_is_bounded_in_memory() -> None:
    # 160 lists of a million items, each within the cap: 1.3 GB before the outer list was
    # measured.
    source = "[" + ",".join(["[0]*999999"] * 160) + "]"
    assert len(source) <= 2_000
    tracemalloc.start()
    try:
        with pytest.raises(ExpressionError, match=f"more than {MAX_WORK:,}") as refused:
            evaluate(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code == "expression_too_large"
    # Bytes: a dozen lists of a million, at most, were built before the work was refused.
    assert peak < 8 * (MAX_WORK + 2 * MAX_SIZE)


@pytest.mark.parametrize(
    "source",
    [
        # 86 joins of a million, each dropped by len(): little memory, but seconds of work.
        "[" + ",".join(["len(join([0]*999999))"] * 86) + "]",
        # A million-item list from the data, read through 130 times.
        "[" + ",".join(["sum(data.many)"] * 130) + "]",
        "[" + ",".join(["0 in data.many"] * 130) + "]",
        "[" + ",".join(["len(data.many[1:])"] * 100) + "]",
        # == walks nested lists to the bottom, not only the outer one's item.
        "[" + ",".join(["data.a==data.b"] * 100) + "]",
    ],
)
def test_the_work_on_the_way_is_bounded_in_steps(source: str) -> None:
    assert len(source) <= 2_000
    nested = {"a": [[1.5] * 120_000], "b": [[1.5] * 120_000]}
    with pytest.raises(ExpressionError, match=f"more than {MAX_WORK:,}") as refused:
        evaluate(source, {"data": {"many": [1] * MAX_SIZE, **nested}})
    assert refused.value.code == "expression_too_large"


def test_handing_back_what_exists_builds_nothing() -> None:
    # A 1.6 MB dependency output, read a dozen times through coalesce() and get(): nothing is
    # built, so nothing counts against the work.
    names = {"deps": {"fetch": {"orderId": 7, "blob": "x" * 1_600_000}}}
    template = {f"f{n}": "=coalesce(deps.fetch, {}).orderId" for n in range(12)}
    template |= {f"g{n}": "=get(deps, 'fetch').orderId" for n in range(12)}
    assert set(render(template, names).values()) == {7}


def test_a_large_value_may_still_pass_through_several_steps() -> None:
    text = " " + "a" * (MAX_SIZE - 2) + " "
    assert evaluate("upper(trim(data.text))", {"data": {"text": text}}) == "A" * (MAX_SIZE - 2)
    assert evaluate("len(data.many[1:]) + sum(data.many)", {"data": {"many": [1] * MAX_SIZE}}) == (
        2 * MAX_SIZE - 1
    )


@pytest.mark.parametrize(
    "source",
    [
        "1e308 * 10 // 1",  # inf, which floor() cannot make whole
        "1e308 * 10",
        "-1e308 - 1e308",
        "1e999",
        "sum([1e308, 1e308])",
        "number('1e999')",
        "number('nan')",
        "number('9' * 5000)",
        "round(1e308)",  # a whole number of 309 digits
        "9223372036854775807 + 1",
        "-(-9223372036854775807 - 1)",
        "abs(-9223372036854775807 - 1)",
        "data.huge * 1.5",  # too large to become a float
        "data.huge / 3",
        "string(data.huge)",  # more digits than Python turns into text
    ],
)
def test_numbers_stay_within_what_json_holds(source: str) -> None:
    with pytest.raises(ExpressionError) as refused:
        evaluate(source, {"data": {"huge": 10**5000}})
    assert refused.value.code == "number_out_of_range"


@pytest.mark.parametrize(
    ("source", "why"),
    [
        ("round(5, -100000)", "round() takes -100 to 100 digits"),  # 10 ** 100000 otherwise
        ("split('abc', '')", "a separator that is not empty"),
        ("get({}, [1])", "unhashable type"),  # not a complaint about its arguments
        ("1\x00", "not an expression"),
    ],
)
def test_every_failure_is_an_expression_error(source: str, why: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(why)) as refused:
        evaluate(source)
    assert refused.value.code == "invalid_expression"
    assert evaluate("round(1234.5678, -2)") == 1200
    assert evaluate("round(1.23456, 3)") == 1.235
