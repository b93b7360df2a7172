"""The transform template's expression language: what it computes, and what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from worker_sdk.templates.expressions import MAX_SIZE, Expression, ExpressionError, render

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
