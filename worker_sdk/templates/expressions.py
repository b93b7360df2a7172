"""A small, safe expression language over JSON, for the ``transform`` template.

Expressions look like Python (``price * quantity``, ``upper(customer.name)``,
``"big" if total > 100 else "small"``, ``items[0].sku``) but are never run as Python: they are
parsed with :mod:`ast` and only the node types below are evaluated, by this module. There are
no attribute lookups on objects (``a.b`` reads the key ``b`` of the JSON object ``a``), no
imports, no lambdas, no comprehensions, no ``**``, and only the functions in ``FUNCTIONS``.
Sizes are capped so that an expression cannot exhaust memory or time.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

MAX_LENGTH = 2_000  # characters of one expression
MAX_DEPTH = 50  # nesting of its syntax tree
MAX_SIZE = 1_000_000  # items of a list, or characters of a string, an expression may build


class ExpressionError(ValueError):
    """The expression is not one this language has, or it failed on this data."""


def _number(value: Any, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(f"{what} needs numbers, got {_kind(value)}")
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _capped(value: Any) -> Any:
    if isinstance(value, str | list) and len(value) > MAX_SIZE:
        raise ExpressionError(f"a result of more than {MAX_SIZE:,} items or characters")
    return value


def _add(left: Any, right: Any) -> Any:
    if isinstance(left, str) and isinstance(right, str):
        return _capped(left + right)
    if isinstance(left, list) and isinstance(right, list):
        return _capped(left + right)
    return _number(left, "+") + _number(right, "+")


def _multiply(left: Any, right: Any) -> Any:
    # "ab" * 3 is allowed, within the size cap, checked before the string is built.
    if isinstance(left, str | list) and isinstance(right, int) and not isinstance(right, bool):
        if len(left) * max(right, 0) > MAX_SIZE:
            raise ExpressionError(f"a result of more than {MAX_SIZE:,} items or characters")
        return left * right
    return _number(left, "*") * _number(right, "*")


def _divide(left: Any, right: Any) -> float:
    divisor = _number(right, "/")
    if divisor == 0:
        raise ExpressionError("division by zero")
    return _number(left, "/") / divisor


def _arithmetic(symbol: str, function: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def apply(left: Any, right: Any) -> Any:
        return function(_number(left, symbol), _number(right, symbol))

    return apply


def _modulo(left: Any, right: Any) -> Any:
    if _number(right, "%") == 0:
        raise ExpressionError("division by zero")
    return _number(left, "%") % right


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: _add,
    ast.Sub: _arithmetic("-", operator.sub),
    ast.Mult: _multiply,
    ast.Div: _divide,
    ast.FloorDiv: lambda a, b: math.floor(_divide(a, b)),
    ast.Mod: _modulo,
}

_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
}


def _length(value: Any) -> int:
    if not isinstance(value, str | list | dict):
        raise ExpressionError(f"len() needs a string, list or object, got {_kind(value)}")
    return len(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ExpressionError(f"needs a string, got {_kind(value)}")
    return value


def _numbers(values: Any, what: str) -> list[int | float]:
    if not isinstance(values, list):
        raise ExpressionError(f"{what}() needs a list, got {_kind(values)}")
    return [_number(v, what) for v in values]


def _to_number(value: Any) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                raise ExpressionError(f"number(): {value[:50]!r} is not a number") from None
    raise ExpressionError(f"number() needs a string or a number, got {_kind(value)}")


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    raise ExpressionError(f"string() needs a scalar, got {_kind(value)}")


def _get(value: Any, key: Any, default: Any = None) -> Any:
    if isinstance(value, dict):
        return value.get(key, default)
    if isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
        return value[key]
    return default


def _round(value: Any, digits: Any = 0) -> int | float:
    places = int(_number(digits, "round"))
    number = _number(value, "round")
    return round(number) if places == 0 else round(number, places)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": _length,
    "upper": lambda s: _text(s).upper(),
    "lower": lambda s: _text(s).lower(),
    "trim": lambda s: _text(s).strip(),
    "split": lambda s, separator=",": _capped(_text(s).split(_text(separator))),
    "join": lambda items, separator="": _capped(
        _text(separator).join(_to_string(i) for i in (items if isinstance(items, list) else []))
    ),
    "replace": lambda s, old, new: _capped(_text(s).replace(_text(old), _text(new))),
    "startswith": lambda s, prefix: _text(s).startswith(_text(prefix)),
    "endswith": lambda s, suffix: _text(s).endswith(_text(suffix)),
    "round": _round,
    "abs": lambda x: abs(_number(x, "abs")),
    "sum": lambda xs: sum(_numbers(xs, "sum")),
    "min": lambda xs: min(_numbers(xs, "min"), default=None),
    "max": lambda xs: max(_numbers(xs, "max"), default=None),
    "number": _to_number,
    "string": _to_string,
    "coalesce": lambda *values: next((v for v in values if v is not None), None),
    "get": _get,
    "keys": lambda o: list(o) if isinstance(o, dict) else [],
    "values": lambda o: list(o.values()) if isinstance(o, dict) else [],
}

_CONSTANTS = {"true": True, "false": False, "null": None}


class Expression:
    """A parsed expression; ``evaluate(names)`` computes it over JSON values."""

    def __init__(self, source: str) -> None:
        if len(source) > MAX_LENGTH:
            raise ExpressionError(f"an expression of more than {MAX_LENGTH} characters")
        try:
            self._tree = ast.parse(source.strip(), mode="eval")
        except SyntaxError as error:
            raise ExpressionError(f"not an expression: {error.msg}") from None
        self.source = source
        _check(self._tree.body, 0)

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        return _Evaluator(names).visit(self._tree.body)


_ALLOWED = (
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Name,
    ast.Attribute,
    ast.Subscript,
    ast.Constant,
    ast.List,
    ast.Dict,
    ast.Call,
    ast.Slice,
)


def _check(node: ast.AST, depth: int) -> None:
    """Refuse, before running anything, whatever the language does not have."""
    if depth > MAX_DEPTH:
        raise ExpressionError("the expression is nested too deeply")
    if not isinstance(node, _ALLOWED):
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
    if isinstance(node, ast.BinOp) and type(node.op) not in _BINARY:
        raise ExpressionError(f"the operator {type(node.op).__name__} is not allowed")
    if isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.USub | ast.UAdd | ast.Not):
        raise ExpressionError(f"the operator {type(node.op).__name__} is not allowed")
    if isinstance(node, ast.Compare) and any(type(op) not in _COMPARE for op in node.ops):
        raise ExpressionError("that comparison is not allowed")
    if isinstance(node, ast.Call):
        known = ", ".join(sorted(FUNCTIONS))
        if not isinstance(node.func, ast.Name):
            raise ExpressionError(f"only these functions may be called, by name: {known}")
        if node.func.id not in FUNCTIONS:
            raise ExpressionError(f"no function {node.func.id!r}; there are {known}")
        if node.keywords:
            raise ExpressionError("functions take positional arguments only")
        for argument in node.args:
            _check(argument, depth + 1)
        return
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.expr):  # operators and load contexts are checked above
            _check(child, depth + 1)


class _Evaluator:
    def __init__(self, names: Mapping[str, Any]) -> None:
        self.names = names

    def visit(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, str | int | float | bool | None):
                raise ExpressionError(f"a {type(node.value).__name__} literal is not JSON")
            return node.value
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.Attribute):
            parent = self.visit(node.value)
            if not isinstance(parent, dict):
                raise ExpressionError(f".{node.attr} reads a key of an object, not {_kind(parent)}")
            return parent.get(node.attr)
        if isinstance(node, ast.Subscript):
            return self._subscript(self.visit(node.value), node.slice)
        if isinstance(node, ast.List):
            return _capped([self.visit(item) for item in node.elts])
        if isinstance(node, ast.Dict):
            return self._object(node)
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            number = _number(operand, "-")
            return -number if isinstance(node.op, ast.USub) else number
        if isinstance(node, ast.BoolOp):
            # As in Python: the first falsy value for `and`, the first truthy one for `or`.
            last: Any = None
            for part in node.values:
                last = self.visit(part)
                if bool(last) != isinstance(node.op, ast.And):
                    return last
            return last
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.IfExp):
            return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            arguments = [self.visit(argument) for argument in node.args]
            try:
                return FUNCTIONS[node.func.id](*arguments)
            except TypeError:
                raise ExpressionError(
                    f"{node.func.id}() does not take {len(arguments)} arguments"
                ) from None
        raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")

    def _name(self, name: str) -> Any:
        if name in self.names:
            return self.names[name]
        if name in _CONSTANTS:
            return _CONSTANTS[name]
        raise ExpressionError(f"no name {name!r}; there are {', '.join(self.names)}")

    def _object(self, node: ast.Dict) -> dict[str, Any]:
        built: dict[str, Any] = {}
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:
                raise ExpressionError("** in an object is not allowed")
            name = self.visit(key)
            if not isinstance(name, str):
                raise ExpressionError("object keys are strings")
            built[name] = self.visit(value)
        return built

    def _compare(self, node: ast.Compare) -> bool:
        current = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            following = self.visit(comparator)
            try:
                if not _COMPARE[type(op)](current, following):
                    return False
            except TypeError:
                raise ExpressionError(
                    f"cannot compare {_kind(current)} with {_kind(following)}"
                ) from None
            current = following
        return True

    def _subscript(self, value: Any, index: ast.expr) -> Any:
        if isinstance(index, ast.Slice):
            if not isinstance(value, str | list):
                raise ExpressionError(f"only strings and lists are sliced, not {_kind(value)}")
            bounds = [
                None if part is None else self.visit(part) for part in (index.lower, index.upper)
            ]
            if any(
                b is not None and (isinstance(b, bool) or not isinstance(b, int)) for b in bounds
            ):
                raise ExpressionError("slice bounds are whole numbers")
            return value[bounds[0] : bounds[1]]
        key = self.visit(index)
        if isinstance(value, dict):
            return value.get(key) if isinstance(key, str) else None
        if isinstance(value, list | str):
            if isinstance(key, bool) or not isinstance(key, int):
                raise ExpressionError(f"a list index is a whole number, not {_kind(key)}")
            return value[key] if -len(value) <= key < len(value) else None
        raise ExpressionError(f"[...] reads a list or an object, not {_kind(value)}")


def render(template: Any, names: Mapping[str, Any]) -> Any:
    """A JSON template with every string that starts with ``=`` replaced by its expression's
    value (``"=="`` at the start stands for a literal ``=``)."""
    if isinstance(template, str):
        if template.startswith("=="):
            return template[1:]
        if template.startswith("="):
            return Expression(template[1:]).evaluate(names)
        return template
    if isinstance(template, list):
        return [render(item, names) for item in template]
    if isinstance(template, dict):
        return {key: render(value, names) for key, value in template.items()}
    return template
