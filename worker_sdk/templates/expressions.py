"""A small, safe expression language over JSON, for the ``transform`` template.

Expressions look like Python (``price * quantity``, ``upper(customer.name)``,
``"big" if total > 100 else "small"``, ``items[0].sku``) but are never run as Python: they are
parsed with :mod:`ast` and only the node types below are evaluated, by this module. There are
no attribute lookups on objects (``a.b`` reads the key ``b`` of the JSON object ``a``), no
imports, no lambdas, no comprehensions, no ``**``, and only the functions in ``FUNCTIONS``.

Sizes are capped so that an expression cannot exhaust memory or time, and each is checked
before the value is built: a string or list that ``*``, ``+``, ``join``, ``replace`` or
``split`` would make is measured from its parts first. A list counts with everything in it,
written out, since one list can hold another many times over (``[[1] * 1000] * 1000`` is a
million items once encoded as JSON); and the values all of one template's expressions
produce count together. Numbers stay JSON's: whole numbers within 64 bits, floats finite.
Every failure is an :class:`ExpressionError` with a ``code``.
"""

from __future__ import annotations

import ast
import inspect
import math
import operator
from collections.abc import Callable, Mapping
from typing import Any

MAX_LENGTH = 2_000  # characters of one expression
MAX_DEPTH = 50  # nesting of its syntax tree
# Items and characters of what expressions build: of a string, of a list or object with all
# it holds, and of all a template's expressions produce together.
MAX_SIZE = 1_000_000
# Items and characters that one template's expressions may build or read on the way,
# intermediate values included: each step is held to MAX_SIZE, and this bounds how many steps
# (a list of 150 lists of a million, or 150 joins each dropped by len(), would take a gigabyte
# or seconds while no single value is past the cap).
MAX_WORK = 10 * MAX_SIZE
_INT64 = range(-(2**63), 2**63)
MAX_ROUND_DIGITS = 100


class ExpressionError(ValueError):
    """The expression is not one this language has, or it failed on this data.

    ``code`` says which: ``invalid_expression``, ``expression_too_large`` (past
    ``MAX_SIZE``) or ``number_out_of_range`` (past 64 bits, or a float overflow)."""

    def __init__(self, message: str, *, code: str = "invalid_expression") -> None:
        super().__init__(message)
        self.code = code


def _within(size: int) -> int:
    """``size``, if a value of that many items and characters may be built: refused past the
    cap, before it is built."""
    if size > MAX_SIZE:
        raise ExpressionError(
            f"a result of more than {MAX_SIZE:,} items or characters", code="expression_too_large"
        )
    return size


def _in_range(value: Any) -> Any:
    """``value``, if it is not a number JSON (or the control plane) cannot hold."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ExpressionError("a number too large for a float", code="number_out_of_range")
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        raise ExpressionError("a whole number past 64 bits", code="number_out_of_range")
    return value


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


def _joins(left: Any, right: Any) -> bool:
    """Whether ``left + right`` concatenates (strings or lists) rather than adds."""
    return isinstance(left, str | list) and type(left) is type(right)


def _repeats(left: Any, right: Any) -> bool:
    """Whether ``left * right`` repeats a string or list ("ab" * 3)."""
    return isinstance(left, str | list) and isinstance(right, int) and not isinstance(right, bool)


def _add(left: Any, right: Any) -> Any:
    if _joins(left, right):
        return left + right  # its size was checked before (_Evaluator._check_size)
    return _number(left, "+") + _number(right, "+")


def _multiply(left: Any, right: Any) -> Any:
    if _repeats(left, right):
        return left * right  # its size was checked before (_Evaluator._check_size)
    return _number(left, "*") * _number(right, "*")


def _divide(left: Any, right: Any) -> float:
    divisor = _number(right, "/")
    if divisor == 0:
        raise ExpressionError("division by zero")
    # A float past the largest one is inf (1e308 * 10), which floor() would raise on.
    return float(_in_range(_number(left, "/") / divisor))


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
        return repr(_in_range(value))  # a huge whole number from the data has no digits here
    raise ExpressionError(f"string() needs a scalar, got {_kind(value)}")


def _get(value: Any, key: Any, default: Any = None) -> Any:
    if isinstance(value, dict):
        return value.get(key, default)
    if isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
        return value[key]
    return default


def _round(value: Any, digits: Any = 0) -> int | float:
    places = _number(digits, "round")
    # round(5, -10**9) would compute 10**(10**9).
    if not -MAX_ROUND_DIGITS <= places <= MAX_ROUND_DIGITS:
        raise ExpressionError(f"round() takes -{MAX_ROUND_DIGITS} to {MAX_ROUND_DIGITS} digits")
    number = _number(value, "round")
    return round(number) if int(places) == 0 else round(number, int(places))


def _join(items: Any, separator: Any = "") -> str:
    joined = items if isinstance(items, list) else []
    between = _text(separator)
    # Measured first (each part is already there, or a number's few digits), then built.
    _within(sum(len(_to_string(i)) for i in joined) + len(between) * max(len(joined) - 1, 0))
    return between.join(_to_string(i) for i in joined)


def _replace(value: Any, old_value: Any, new_value: Any) -> str:
    text, old, new = _text(value), _text(old_value), _text(new_value)
    # count("") is len + 1, as many places as replace("", ...) fills.
    _within(len(text) + text.count(old) * (len(new) - len(old)))
    return text.replace(old, new)


def _split(value: Any, separator_value: Any = ",") -> list[str]:
    text, separator = _text(value), _text(separator_value)
    if not separator:
        raise ExpressionError("split() needs a separator that is not empty")
    pieces = text.count(separator) + 1
    _within(pieces + len(text) - (pieces - 1) * len(separator))
    return text.split(separator)


def _cased(change: Callable[[str], str]) -> Callable[[Any], str]:
    def apply(value: Any) -> str:
        # At most three times as long ("ﬃ".upper() is "FFI"), from a string that exists.
        changed = change(_text(value))
        _within(len(changed))
        return changed

    return apply


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": _length,
    "upper": _cased(str.upper),
    "lower": _cased(str.lower),
    "trim": lambda s: _text(s).strip(),
    "split": _split,
    "join": _join,
    "replace": _replace,
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

_SIGNATURES = {name: inspect.signature(function) for name, function in FUNCTIONS.items()}
# Functions whose result is one of their arguments or a part of one, and those that list the
# parts of an object: what they give back is counted as built by neither in full.
_HANDS_BACK = {"get", "coalesce"}
_LISTS_PARTS = {"keys", "values"}

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
        except (ValueError, RecursionError) as error:  # a NUL character; too many brackets
            raise ExpressionError(f"not an expression: {error}") from None
        self.source = source
        _check(self._tree.body, 0)

    def evaluate(self, names: Mapping[str, Any]) -> Any:
        return _Evaluator(names).result(self)


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
        # The sizes of lists and objects already measured, by id (each kept alive with its
        # size, so that no id is reused meanwhile): a list that holds another many times
        # over is measured in the time its distinct parts take.
        self._sizes: dict[int, tuple[Any, int]] = {}
        self._produced = 0
        self._work = 0

    def result(self, expression: Expression) -> Any:
        """The expression's value, which counts towards what all expressions evaluated by
        this evaluator may produce together."""
        try:
            value = self.visit(expression._tree.body)
            self._produced += self._size(value)
        except ExpressionError:
            raise
        except OverflowError as error:  # an int too large for a float: data * 1.5
            raise ExpressionError(str(error), code="number_out_of_range") from None
        except (ArithmeticError, ValueError, TypeError, LookupError, RecursionError) as error:
            # What no check above foresaw still fails as the expression's error, for good.
            raise ExpressionError(f"{expression.source[:100]}: {error}") from None
        _within(self._produced)
        return value

    def _size(self, value: Any) -> int:
        """Items and characters in ``value``, written out: a list or object counts its
        items, and what they hold, each time it holds them."""
        if isinstance(value, str):
            return len(value)
        if not isinstance(value, list | dict):
            return 0
        if id(value) in self._sizes:
            return self._sizes[id(value)][1]
        if isinstance(value, dict):
            size = sum(1 + len(key) + self._size(item) for key, item in value.items())
        else:
            size = sum(1 + self._size(item) for item in value)
        self._sizes[id(value)] = (value, size)
        return size

    def _check_size(self, op: ast.operator, left: Any, right: Any) -> None:
        """Refuse a concatenation or repetition too large, before it is built."""
        if isinstance(op, ast.Add) and _joins(left, right):
            self._spend(_within(self._size(left) + self._size(right)))
        if isinstance(op, ast.Mult) and _repeats(left, right):
            self._spend(_within(self._size(left) * max(right, 0)))

    def _spend(self, work: int) -> None:
        """Count ``work`` items and characters built or read, refused past ``MAX_WORK``."""
        self._work += work
        if self._work > MAX_WORK:
            raise ExpressionError(
                f"expressions that build or read more than {MAX_WORK:,} items and characters"
                " on the way",
                code="expression_too_large",
            )

    def visit(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, str | int | float | bool | None):
                raise ExpressionError(f"a {type(node.value).__name__} literal is not JSON")
            return _in_range(node.value)  # 1e999 is read as inf
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
            items = [self.visit(item) for item in node.elts]
            self._spend(_within(sum(1 + self._size(item) for item in items)))
            return items
        if isinstance(node, ast.Dict):
            return self._object(node)
        if isinstance(node, ast.BinOp):
            left, right = self.visit(node.left), self.visit(node.right)
            self._check_size(node.op, left, right)
            return _in_range(_BINARY[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp):
            operand = self.visit(node.operand)
            if isinstance(node.op, ast.Not):
                return not operand
            number = _number(operand, "-")
            return _in_range(-number if isinstance(node.op, ast.USub) else number)
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
                _SIGNATURES[node.func.id].bind(*arguments)
            except TypeError:
                raise ExpressionError(
                    f"{node.func.id}() does not take {len(arguments)} arguments"
                ) from None
            # A function reads its strings, lists and objects through (sum, join, split...),
            # and what it returns is built: both are counted, the reading before it is done.
            self._spend(sum(len(a) for a in arguments if isinstance(a, str | list | dict)))
            value = _in_range(FUNCTIONS[node.func.id](*arguments))
            if node.func.id in _HANDS_BACK:  # a part of its arguments: nothing built
                return value
            shallow = node.func.id in _LISTS_PARTS  # a new list of what exists
            self._spend(len(value) if shallow else self._size(value))
            return value
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
        self._spend(_within(sum(1 + len(key) + self._size(item) for key, item in built.items())))
        return built

    def _compare(self, node: ast.Compare) -> bool:
        current = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators, strict=True):
            following = self.visit(comparator)
            # `in`, `==` and `<` walk strings and lists through, to the bottom.
            self._spend(self._size(current) + self._size(following))
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
            part = value[bounds[0] : bounds[1]]
            self._spend(len(part))  # a copy, of at most what exists
            return part
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
    value (``"=="`` at the start stands for a literal ``=``). What all its expressions produce
    counts together: a thousand copies of one large value are a thousand times its size."""
    return _render(template, _Evaluator(names))


def _render(template: Any, evaluator: _Evaluator) -> Any:
    if isinstance(template, str):
        if template.startswith("=="):
            return template[1:]
        if template.startswith("="):
            return evaluator.result(Expression(template[1:]))
        return template
    if isinstance(template, list):
        return [_render(item, evaluator) for item in template]
    if isinstance(template, dict):
        return {key: _render(value, evaluator) for key, value in template.items()}
    return template
