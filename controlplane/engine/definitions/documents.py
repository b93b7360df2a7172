"""The pipeline definition document: its file format, its checks, and the runs made from it.

A document is plain data (the JSON data model), written as YAML or JSON. It is stored as it
came, in its own key order, so that exporting a version gives back exactly what was imported.
Checks report every problem at once, each with its path in the document (``stages[2].name``)
and, for a file, its line and column.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

import jsonschema
import msgspec
import referencing
import referencing.exceptions
import referencing.jsonschema
import yaml
from msgspec import Meta, Struct

from controlplane.engine.jobpath.dag import unorderable
from controlplane.errors import InvalidRequest, ProblemError, Unavailable
from controlplane.input_limits import (
    MAX_JSON_DEPTH,
    MAX_JSON_VALUES,
    NUL_MESSAGE,
    check_json_shape,
    nul_path,
)
from controlplane.sandbox import Busy, Crashed, Sandbox, TookTooLong
from controlplane.schemas import (
    PLAIN_TEXT,
    PLAIN_TEXT_RULE,
    ContextKey,
    DefinitionName,
    HandlerName,
    Keyword,
    StageSpec,
    refusal,
)

if TYPE_CHECKING:  # what Registry.resolver() returns; referencing does not export it
    from referencing._core import Resolver

T = TypeVar("T")

API_VERSION = "pipelogiq/v1"
KIND = "PipelineDefinition"
MAX_DOCUMENT_BYTES = 1_048_576
# Problems of a document answered at most (the count says how many there were).
MAX_PROBLEMS = 100
FileFormat = Literal["yaml", "json"]


class _Strict(Struct, rename="camel", forbid_unknown_fields=True):
    pass


# A stage's name as stored: versions saved before names had to be plain text must still load
# (and run); a new save is held to PLAIN_TEXT by _stage_problems.
_StoredStageName = Annotated[str, Meta(min_length=1, max_length=100)]
_PLAIN = re.compile(PLAIN_TEXT)


class DefinitionStage(_Strict):
    name: _StoredStageName
    # One of the two: a handler your workers serve, or a stage template (a handler that
    # ships with the SDK, such as dataset.ingest).
    handler: HandlerName | None = None
    template: HandlerName | None = None
    description: Annotated[str, Meta(max_length=2000)] | None = None
    # Default input; strings may hold {{ params.name }} references.
    input: Any = None
    depends_on: Annotated[list[_StoredStageName], Meta(max_length=100)] | None = None
    max_retries: Annotated[int, Meta(ge=0, le=100)] = 0
    retry_backoff: Literal["fixed", "exponential"] = "exponential"
    retry_backoff_seconds: Annotated[float, Meta(ge=0, le=86_400)] = 1.0
    retry_backoff_max_seconds: Annotated[float, Meta(ge=0, le=86_400)] = 300.0
    timeout_seconds: Annotated[int, Meta(ge=1, le=604_800)] | None = None


class Document(_Strict):
    api_version: Literal["pipelogiq/v1"]
    kind: Literal["PipelineDefinition"]
    name: DefinitionName
    stages: Annotated[list[DefinitionStage], Meta(min_length=1, max_length=1000)]
    description: Annotated[str, Meta(max_length=10_000)] | None = None
    keywords: Annotated[list[Keyword], Meta(max_length=50)] = []
    # A JSON Schema (draft 2020-12) of type object for the params of each run; none: a run
    # takes no params.
    params: dict[str, Any] | None = None
    # Context every run starts with (a run's own context is merged over it).
    context: Annotated[dict[ContextKey, Any], Meta(max_length=1000)] = {}


Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    path: Path
    message: str


def path_text(path: Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


# -- reading and writing files -----------------------------------------------------------------


_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_FLOAT = "tag:yaml.org,2002:float"
_MERGE = "tag:yaml.org,2002:merge"
_VALUE = "tag:yaml.org,2002:value"  # YAML 1.1's `=`, which nothing constructs
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
# libyaml's parser when PyYAML was built with it (the wheels are): several times faster.
_Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Parser):  # type: ignore[misc,valid-type]
    """YAML read as JSON data, by YAML 1.2's core schema rather than PyYAML's 1.1: only
    true/false are booleans (``country: NO`` is a string), ``012`` is twelve and ``1:30`` a
    string (not 10 and 90), ``1e3`` a number, ``<<`` a plain key, and dates stay strings.
    Anchors and aliases are refused by :func:`_checked`: a few lines must not expand into
    gigabytes."""

    yaml_implicit_resolvers = {
        first: [
            (tag, regexp)
            for tag, regexp in resolvers
            if tag not in (_BOOL, _INT, _FLOAT, _MERGE, _TIMESTAMP, _VALUE)
        ]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


def _core_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> int:
    text = loader.construct_scalar(node)
    if text.startswith(("0o", "0x")):
        return int(text[2:], 8 if text[1] == "o" else 16)
    return int(text, 10)


def _core_float(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> float:
    return _yaml_float(loader.construct_scalar(node))


def _yaml_float(text: str) -> float:
    return float(text.lower().replace(".inf", "inf").replace(".nan", "nan"))


# The resolvers of YAML 1.2's core schema, the int one first ("12" is no float).
_CORE_RESOLVERS = [
    (_BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")),
    (_INT, re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"), list("-+0123456789")),
    (
        _FLOAT,
        re.compile(
            r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
            r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
        ),
        list("-+0123456789."),
    ),
]
_Loader.add_constructor(_INT, _core_int)
_Loader.add_constructor(_FLOAT, _core_float)


class _Dumper(yaml.SafeDumper):
    """Text is written plain only where both YAML 1.1 and 1.2 read it as text: ``1e3``,
    ``012`` and ``NO`` are quoted, for this reader and for any other."""


for _tag, _pattern, _first in _CORE_RESOLVERS:
    _Loader.add_implicit_resolver(_tag, _pattern, _first)
    _Dumper.add_implicit_resolver(_tag, _pattern, _first)


def _represent_text(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    # Multi-line text as a literal block: readable, and diffs line by line in git.
    style = "|" if "\n" in text else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _represent_text)


@dataclass(frozen=True)
class Parsed:
    raw: Any
    # Where a path of the document is in the file: (line, column), both from 1.
    locate: Callable[[Path], tuple[int, int] | None]


# A file is read and checked within this many seconds, or refused.
READ_SECONDS = 5.0


@dataclass(frozen=True)
class CheckedFile:
    raw: Any
    document: Document


async def read_checked(
    sandbox: Sandbox,
    content: str | bytes,
    file_format: FileFormat,
    max_input_bytes: int,
    templates: Collection[str] | None = None,
) -> CheckedFile:
    """The document of a file, read and checked in the sandbox's child process: a large file
    takes a good part of a second of CPU, which must not stall the event loop. Raises as
    :func:`parse_file` and :func:`check` do, and for a file that takes past READ_SECONDS."""
    too_long = _file_error(f"the file takes more than {READ_SECONDS:g} s to read", None)
    answer = await _apart(
        sandbox,
        READ_SECONDS,
        too_long,
        _read_and_check,
        content,
        file_format,
        max_input_bytes,
        templates,
    )
    raw = msgspec.json.decode(answer)
    return CheckedFile(raw, msgspec.convert(raw, Document))


async def _apart(
    sandbox: Sandbox,
    seconds: float,
    too_long: InvalidRequest,
    function: Callable[..., T | tuple[str, str, dict[str, Any]]],
    *args: Any,
) -> T:
    """``function(*args)`` in the sandbox; it answers what it made, or a refusal as plain data
    (an exception would not cross the process boundary whole), which is raised here."""
    try:
        answer = await sandbox.run(seconds, function, *args)
    except (TookTooLong, Crashed):
        raise too_long from None
    except Busy:
        raise Unavailable(
            "busy", "too many files and params are being checked at once", retry_after=1
        ) from None
    if isinstance(answer, tuple):
        code, detail, extra = answer
        raise InvalidRequest(code, detail, **extra)
    return answer


def _read_and_check(
    content: str | bytes,
    file_format: FileFormat,
    max_input_bytes: int,
    templates: Collection[str] | None,
) -> bytes | tuple[str, str, dict[str, Any]]:
    """In the child: the document as JSON, or why it is refused."""
    try:
        parsed = parse_file(content, file_format)
        check(
            parsed.raw, max_input_bytes=max_input_bytes, locate=parsed.locate, templates=templates
        )
    except InvalidRequest as error:
        return error.code, error.detail, error.extra
    return msgspec.json.encode(parsed.raw)


def parse_file(content: str | bytes, file_format: FileFormat) -> Parsed:
    """The document in a YAML or JSON file, as plain data; 422 ``invalid_definition_file``
    with the line and column of a syntax error, or of text past the limits of any input
    (NUL characters, nesting deeper than MAX_JSON_DEPTH, more than MAX_JSON_VALUES values)."""
    text = _text(content)
    if len(text.encode()) > MAX_DOCUMENT_BYTES:
        raise InvalidRequest(
            "definition_too_large", f"a definition file may hold {MAX_DOCUMENT_BYTES} bytes"
        )
    if file_format == "json":
        return _parse_json(text)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise _file_error("the file holds no definition", None)
        _checked(root)
        # Normalised to the JSON data model: what is stored is what JSON can say.
        raw = _as_json(loader.construct_document(root))
    except _AliasFound:
        raise _file_error("anchors and aliases are not allowed", _first_alias(text)) from None
    except yaml.composer.ComposerError as error:
        if "single document" in str(error):
            raise _file_error("a file holds exactly one definition", None) from None
        raise _yaml_error(error) from None
    except yaml.YAMLError as error:
        raise _yaml_error(error) from None
    except ValueError as error:  # an integer of more digits than Python reads, say
        raise _file_error(f"not valid YAML: {error}", None) from None
    finally:
        loader.dispose()
    return Parsed(raw, _locator(root))


def _as_json(data: Any) -> Any:
    try:
        return msgspec.json.decode(msgspec.json.encode(data))
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError) as error:
        # A key that is not text (`null: 1`), a number no JSON reader holds...
        raise _file_error(f"not JSON data: {error}", None) from None


def _text(content: str | bytes) -> str:
    if isinstance(content, str):
        return content
    try:
        return content.decode()
    except UnicodeDecodeError as error:
        raise _file_error(f"the file is not UTF-8 text (byte {error.start})", None) from None


def _parse_json(text: str) -> Parsed:
    encoded = text.encode()
    try:
        check_json_shape(encoded)
        raw = msgspec.json.decode(encoded)
    except msgspec.DecodeError as error:
        position = _json_position(text, str(error))
        raise _file_error(f"not valid JSON: {error}", position) from None
    except ProblemError as error:  # too deep, too many values
        raise _file_error(error.detail, None) from None
    where = nul_path(raw)
    # The file's positions are looked up only when a problem needs them.
    locate = _locator_of_text(text)
    if where is not None:
        raise _file_error(f"{where}: {NUL_MESSAGE}", locate(_parse_path("." + where)))
    return Parsed(raw, locate)


def _yaml_error(error: yaml.YAMLError) -> InvalidRequest:
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        position = (mark.line + 1, mark.column + 1) if mark else None
        return _file_error(f"not valid YAML: {error.problem or error}", position)
    return _file_error(f"not valid YAML: {error}", None)


def _checked(root: yaml.Node | None) -> None:
    """Refuse what the file may not hold, walking its nodes once (without recursion, so that
    the walk itself cannot be too deep): aliases, NUL characters, nesting deeper than
    MAX_JSON_DEPTH, more than MAX_JSON_VALUES values."""
    if root is None:
        return
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Path, int]] = [(root, (), 1)]
    while stack:
        node, path, depth = stack.pop()
        if id(node) in seen:  # libyaml gives an alias the node of its anchor
            raise _AliasFound
        seen.add(id(node))
        if len(seen) > MAX_JSON_VALUES:
            raise _node_error(node, path, f"a file may hold {MAX_JSON_VALUES:,} values")
        if isinstance(node, yaml.ScalarNode):
            if "\x00" in node.value:
                raise _node_error(node, path, NUL_MESSAGE)
            if node.tag == _FLOAT and not _finite(node.value):  # JSON has no NaN or infinity
                raise _node_error(node, path, f"{node.value} is no JSON number")
            continue
        if depth > MAX_JSON_DEPTH:
            raise _node_error(node, path, f"nested more than {MAX_JSON_DEPTH} levels deep")
        if isinstance(node, yaml.SequenceNode):
            stack.extend((child, (*path, n), depth + 1) for n, child in enumerate(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                child_path = (*path, str(key.value))
                stack.append((key, child_path, depth + 1))
                stack.append((value, child_path, depth + 1))


def _finite(text: str) -> bool:
    try:
        return math.isfinite(_yaml_float(text))
    except ValueError:  # not a number at all (!!float x): the constructor says so
        return True


class _AliasFound(Exception):
    pass


def _first_alias(text: str) -> tuple[int, int] | None:
    """Where the first alias is: the composed nodes no longer tell an alias from its anchor."""
    for token in yaml.scan(text, Loader=_Loader):
        if isinstance(token, yaml.AliasToken):
            return token.start_mark.line + 1, token.start_mark.column + 1
    return None


def _node_error(node: yaml.Node, path: Path, message: str) -> InvalidRequest:
    mark = node.start_mark
    problem: dict[str, Any] = {
        "path": path_text(path),
        "message": message,
        "line": mark.line + 1,
        "column": mark.column + 1,
    }
    where = f"{problem['path']}: " if path else ""
    return InvalidRequest("invalid_definition_file", where + message, errors=[problem])


def _file_error(message: str, position: tuple[int, int] | None) -> InvalidRequest:
    problem: dict[str, Any] = {"path": "", "message": message}
    if position:
        problem.update(line=position[0], column=position[1])
    return InvalidRequest("invalid_definition_file", message, errors=[problem])


def _json_position(text: str, message: str) -> tuple[int, int] | None:
    found = re.search(r"byte (\d+)", message)
    if not found:
        return None
    offset = int(found.group(1))
    before = text.encode()[:offset].decode(errors="replace")
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _locator_of_text(text: str) -> Callable[[Path], tuple[int, int] | None]:
    """For a JSON file: its nodes are read (as YAML, a superset of JSON) at the first look-up."""
    located: list[Callable[[Path], tuple[int, int] | None]] = []

    def locate(path: Path) -> tuple[int, int] | None:
        if not located:
            try:
                root = yaml.compose(text, Loader=_Loader)
            except yaml.YAMLError:
                root = None
            located.append(_locator(root))
        return located[0](path)

    return locate


def _locator(root: yaml.Node | None) -> Callable[[Path], tuple[int, int] | None]:
    """Finds a path in the file's node tree; the nearest existing parent when the path itself
    is missing."""

    def locate(path: Path) -> tuple[int, int] | None:
        node = root
        if node is None:
            return None
        for part in path:
            child = _child(node, part)
            if child is None:
                break
            node = child
        return node.start_mark.line + 1, node.start_mark.column + 1

    return locate


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if key.value == part:
                return value
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        return node.value[part]
    return None


def dump_file(raw: Any, file_format: FileFormat) -> str:
    """The document as a file; ``parse_file`` of it gives ``raw`` back exactly."""
    if file_format == "json":
        return msgspec.json.format(msgspec.json.encode(raw), indent=2).decode() + "\n"
    return yaml.dump(
        raw,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
        width=100,
    )


# -- checking ---------------------------------------------------------------------------------


def check(
    raw: Any,
    *,
    max_input_bytes: int,
    locate: Callable[[Path], Any] | None = None,
    templates: Collection[str] | None = None,
) -> Document:
    """The document, if it is a valid definition; otherwise 422 ``invalid_definition`` with
    every problem found, each with its path (and line and column, given ``locate``). Given
    the ``templates`` known, a stage naming another is one of the problems."""
    try:
        document = msgspec.convert(raw, Document)
    except msgspec.ValidationError as error:
        message, where = refusal(error)
        raise _invalid([Problem(_parse_path(where), message)], locate) from None
    problems = [*_stage_problems(document, max_input_bytes), *_params_problems(document)]
    if templates is not None:
        problems += _template_problems(document, templates)
    if problems:
        raise _invalid(problems, locate)
    return document


def _template_problems(document: Document, known: Collection[str]) -> Iterator[Problem]:
    """A stage that names a template nobody serves would wait for ever."""
    for n, stage in enumerate(document.stages):
        if stage.template is not None and stage.template not in known:
            yield Problem(
                ("stages", n, "template"),
                f"no template {stage.template!r}: the SDK ships none of that name, and no "
                "online worker of the application serves one (their templates are listed at "
                "GET /templates)",
            )


def _parse_path(text: str) -> Path:
    return tuple(
        int(index) if index else key for key, index in re.findall(r"\.([^.\[]+)|\[(\d+)\]", text)
    )


def _invalid(problems: list[Problem], locate: Callable[[Path], Any] | None) -> InvalidRequest:
    errors = []
    # A crafted file must not make a far larger answer: the first MAX_PROBLEMS, and how many.
    for problem in problems[:MAX_PROBLEMS]:
        error: dict[str, Any] = {"path": path_text(problem.path), "message": problem.message}
        position = locate(problem.path) if locate else None
        if position:
            error.update(line=position[0], column=position[1])
        errors.append(error)
    detail = "; ".join(
        f"{e['path']}: {e['message']}" if e["path"] else e["message"] for e in errors
    )
    if len(problems) > MAX_PROBLEMS:
        detail = f"{len(problems):,} problems; the first {MAX_PROBLEMS}: {detail}"
    return InvalidRequest("invalid_definition", detail, errors=errors)


def _stage_problems(document: Document, max_input_bytes: int) -> Iterator[Problem]:
    names: dict[str, int] = {}
    every_name = {stage.name for stage in document.stages}
    for index, stage in enumerate(document.stages):
        at: Path = ("stages", index)
        if (stage.handler is None) == (stage.template is None):
            yield Problem(at, "give the stage a handler or a template (one of the two)")
        if not _PLAIN.match(stage.name):
            yield Problem((*at, "name"), PLAIN_TEXT_RULE)
        if stage.name in names:
            yield Problem((*at, "name"), f"stages[{names[stage.name]}] is named {stage.name!r} too")
        else:
            names[stage.name] = index
        for n, dependency in enumerate(stage.depends_on or []):
            if dependency == stage.name:
                yield Problem((*at, "dependsOn", n), "a stage cannot depend on itself")
            elif dependency not in every_name:
                yield Problem((*at, "dependsOn", n), f"there is no stage named {dependency!r}")
        size = len(msgspec.json.encode(stage.input))
        if size > max_input_bytes:
            yield Problem(
                (*at, "input"), f"the input is {size} bytes; the limit is {max_input_bytes}"
            )
    if len(names) == len(document.stages):  # with two stages of a name, a cycle is moot
        yield from _cycle_problems(document)


def _dependencies(document: Document) -> dict[str, set[str]]:
    names = [stage.name for stage in document.stages]
    return {
        stage.name: set(
            ([names[index - 1]] if index else [])
            if stage.depends_on is None
            else [d for d in stage.depends_on if d in names and d != stage.name]
        )
        for index, stage in enumerate(document.stages)
    }


def _cycle_problems(document: Document) -> Iterator[Problem]:
    waiting = unorderable(_dependencies(document))
    if waiting:
        first = next(i for i, s in enumerate(document.stages) if s.name in waiting)
        yield Problem(
            ("stages", first, "dependsOn"),
            "the stages " + ", ".join(sorted(waiting)) + " depend on each other in a cycle",
        )


_META_SCHEMA = jsonschema.Draft202012Validator(jsonschema.Draft202012Validator.META_SCHEMA)
_REFERENCE = re.compile(r"\{\{\s*params((?:\.[A-Za-z_][A-Za-z0-9_-]*)*)\s*\}\}")


def _params_problems(document: Document) -> Iterator[Problem]:
    schema = document.params
    declared: set[str] = set()
    if schema is not None:
        meta = sorted(_META_SCHEMA.iter_errors(schema), key=lambda e: list(e.path))
        for error in meta:
            yield Problem(("params", *error.absolute_path), error.message)
        if schema.get("type") != "object":
            yield Problem(("params", "type"), 'the params schema must have "type": "object"')
        for path, ref in _references(schema, ("params",)):
            if not ref.startswith("#"):
                yield Problem(path, "only references within the schema (#/...) are allowed")
        if not meta:  # references are followed in a schema that is one
            yield from _reference_problems(schema)
        yield from _regex_problems(schema, ("params",))
        properties = schema.get("properties")
        if isinstance(properties, dict):
            declared = set(properties)
    for index, stage in enumerate(document.stages):
        for path, name in _param_uses(stage.input, ("stages", index, "input")):
            if name is not None and name not in declared:
                yield Problem(path, f"params.{name} is not a declared param")


def _regex_problems(schema: Any, at: Path) -> Iterator[Problem]:
    """Patterns the params are checked with that this server cannot run (JSON Schema's regex
    dialect is ECMA 262's; Python's differs, in \\p{...} and named groups, say)."""
    stack: list[tuple[Any, Path]] = [(schema, at)]
    while stack:
        item, path = stack.pop()
        if isinstance(item, list):
            stack.extend((child, (*path, n)) for n, child in enumerate(item))
            continue
        if not isinstance(item, dict):
            continue
        patterns = [(("pattern",), item.get("pattern"))]
        if isinstance(item.get("patternProperties"), dict):
            patterns += [(("patternProperties", key), key) for key in item["patternProperties"]]
        for where, pattern in patterns:
            if isinstance(pattern, str):
                try:
                    re.compile(pattern)
                except re.error as error:
                    yield Problem((*path, *where), f"not a regular expression it can run: {error}")
        stack.extend((child, (*path, key)) for key, child in item.items())


_REFERENCE_LOOP = "the params schema refers to itself without end ($ref)"
# Keywords whose schemas apply to the same value as the schema holding them: a $ref reached
# again through these alone checks the same value again, for ever. (Through `properties`,
# `items` and the like the check moves into the value, and ends where the value does.)
_SAME_VALUE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas")


def _schema_resolver(schema: Any) -> Resolver[Any]:
    """Looks references up as the params check will (pointers, %-escapes, anchors)."""
    resource = referencing.jsonschema.DRAFT202012.create_resource(schema)
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        _SCHEMA_URI, resource
    )
    return registry.crawl().resolver(base_uri=_SCHEMA_URI)


_SCHEMA_URI = "urn:pipelogiq:params"
# What a reference to nothing raises (ValueError: a list index such as "²", which the
# library hands to int()).
_NOWHERE = (referencing.exceptions.Unresolvable, ValueError)


def _reference_problems(schema: dict[str, Any]) -> Iterator[Problem]:
    """References to nothing, and loops of references, in a schema the meta-schema passed."""
    targets: dict[Path, Any] = {}  # the path of a schema holding a $ref: what the $ref names
    try:
        resolver = _schema_resolver(schema)
        for path, ref in _references(schema, ()):
            if not ref.startswith("#"):
                continue  # refused by the caller
            try:
                targets[path[:-1]] = resolver.lookup(ref).contents
            except _NOWHERE as error:
                message = f"{ref[:100]} names no part of the schema ({type(error).__name__})"
                yield Problem(("params", *path), message)
        loop = _reference_loop(schema, targets)
    except Exception as error:
        # The library's own failure on a hostile schema (an `$id` that is no URI, say): each
        # run's check would fail the same way.
        yield Problem(("params",), f"its references cannot be followed: {error}"[:300])
        return
    if loop is not None:
        yield Problem(("params", *loop, "$ref"), _REFERENCE_LOOP)


def _reference_loop(schema: Any, targets: dict[Path, Any]) -> Path | None:
    """Where a ``$ref`` leads (``targets``: what each names), through schemas of the same
    value only, back to itself."""
    nodes: dict[Path, Any] = {}
    paths: dict[int, Path] = {}  # a schema's path, by its identity (what a lookup gives back)
    walk: list[tuple[Path, Any]] = [((), schema)]
    while walk:
        path, node = walk.pop()
        if isinstance(node, dict):
            nodes[path], paths[id(node)] = node, path
            walk.extend(((*path, key), child) for key, child in node.items())
        elif isinstance(node, list):
            walk.extend(((*path, n), child) for n, child in enumerate(node))

    def next_steps(pointer: Path) -> Iterator[Path]:
        node = nodes[pointer]
        if pointer in targets:
            target = paths.get(id(targets[pointer]))
            if target is not None:
                yield target
        for keyword in _SAME_VALUE:
            child = node.get(keyword)
            if keyword == "dependentSchemas" and isinstance(child, dict):
                children = [(*pointer, keyword, name) for name in child]
            elif isinstance(child, list):
                children = [(*pointer, keyword, n) for n in range(len(child))]
            else:
                children = [(*pointer, keyword)]
            yield from (c for c in children if c in nodes)

    # Depth first over the graph of schemas, the grey ones on the current path.
    done: set[Path] = set()
    grey: set[Path] = set()
    for start in (path for path, node in nodes.items() if "$ref" in node):
        if start in done:
            continue
        stack: list[tuple[Path, Iterator[Path]]] = [(start, next_steps(start))]
        grey.add(start)
        while stack:
            pointer, steps = stack[-1]
            step = next(steps, None)
            if step is None:
                stack.pop()
                grey.discard(pointer)
                done.add(pointer)
            elif step in grey:  # a loop: from `step` on, the path is the loop
                on_path = [p for p, _ in stack]
                return next(p for p in on_path[on_path.index(step) :] if "$ref" in nodes[p])
            elif step not in done:
                grey.add(step)
                stack.append((step, next_steps(step)))
    return None


def _references(value: Any, path: Path) -> Iterator[tuple[Path, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref" and isinstance(item, str):
                yield (*path, key), item
            else:
                yield from _references(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _references(item, (*path, index))


def _param_uses(value: Any, path: Path) -> Iterator[tuple[Path, str | None]]:
    """Each ``{{ params.name... }}`` in the strings of ``value``: its path and the param's
    name (None for the whole of ``{{ params }}``)."""
    if isinstance(value, str):
        for match in _REFERENCE.finditer(value):
            parts = match.group(1).split(".")[1:]
            yield path, parts[0] if parts else None
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _param_uses(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _param_uses(item, (*path, index))


# -- runs ---------------------------------------------------------------------------------------


# A params schema runs on what a run's submitter sends, and can take as long as the schema
# makes it: a regex that backtracks (Python's cannot be interrupted), `uniqueItems` over
# thousands of objects, `anyOf` nested in `allOf`. So params are checked in the sandbox's
# child process, cut off after this long (the child's start is not counted).
PARAMS_SECONDS = 1.0


async def checked_params(
    sandbox: Sandbox | None, document: Document, params: dict[str, Any]
) -> dict[str, Any]:
    """:func:`check_params`, in the sandbox (when one is given and the definition has a
    params schema); 422 ``invalid_params`` when that takes more than PARAMS_SECONDS."""
    if sandbox is None or document.params is None:
        return check_params(document.params, params)
    too_long = _params_refused(
        f"the params take more than {PARAMS_SECONDS:g} s to check against the schema"
    )
    return await _apart(
        sandbox, PARAMS_SECONDS, too_long, _params_or_refusal, document.params, params
    )


def _params_refused(message: str) -> InvalidRequest:
    """422 ``invalid_params`` for the params as a whole."""
    return InvalidRequest(
        "invalid_params", message, errors=[{"path": "params", "message": message}]
    )


def _params_or_refusal(
    schema: dict[str, Any] | None, params: dict[str, Any]
) -> dict[str, Any] | tuple[str, str, dict[str, Any]]:
    """In the child: the checked params, or why they are refused (as plain data)."""
    try:
        return check_params(schema, params)
    except InvalidRequest as error:
        return error.code, error.detail, error.extra


def check_params(schema: dict[str, Any] | None, params: dict[str, Any]) -> dict[str, Any]:
    """The params of a run with the schema's defaults filled in; 422 ``invalid_params`` with
    the path of every error."""
    if schema is None:
        if params:
            raise _params_refused("this definition takes no params")
        return {}
    filled = dict(params)
    properties = schema.get("properties")
    for name, spec in (properties or {}).items():
        if name not in filled and isinstance(spec, dict) and "default" in spec:
            filled[name] = copy.deepcopy(spec["default"])
    validator = jsonschema.Draft202012Validator(
        schema,
        format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        registry=referencing.Registry(),
    )
    try:
        errors = sorted(validator.iter_errors(filled), key=lambda e: [str(p) for p in e.path])
    # What a version saved before these were refused at save meets when it runs:
    except re.error as error:
        raise _params_refused(
            f"the schema holds a pattern this server cannot run: {error}"
        ) from None
    except RecursionError:  # {"$ref": "#"}: the schema sends the check round in a circle
        raise _params_refused(_REFERENCE_LOOP) from None
    except _NOWHERE as error:
        raise _params_refused(f"the params schema refers to nothing: {error}") from None
    if errors:
        found = [
            {"path": path_text(("params", *e.absolute_path)), "message": e.message} for e in errors
        ]
        raise InvalidRequest(
            "invalid_params",
            "; ".join(f"{e['path']}: {e['message']}" for e in found),
            errors=found,
        )
    return filled


def run_stages(document: Document, params: dict[str, Any]) -> list[StageSpec]:
    """The stages of a run: the definition's, with params put into their inputs."""
    return [
        StageSpec(
            name=stage.name,
            handler=stage.handler or stage.template or "",
            input=_render(stage.input, params),
            depends_on=stage.depends_on if stage.depends_on is not None else msgspec.UNSET,
            max_retries=stage.max_retries,
            retry_backoff=stage.retry_backoff,
            retry_backoff_seconds=stage.retry_backoff_seconds,
            retry_backoff_max_seconds=stage.retry_backoff_max_seconds,
            timeout_seconds=stage.timeout_seconds,
        )
        for stage in document.stages
    ]


def _render(value: Any, params: dict[str, Any]) -> Any:
    """A string that is one reference becomes the param's value, of whatever type; a
    reference inside longer text becomes text (JSON for anything but a string; nothing for
    a missing param)."""
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return copy.deepcopy(_lookup(params, whole.group(1)))
        return _REFERENCE.sub(lambda m: _as_text(_lookup(params, m.group(1))), value)
    if isinstance(value, dict):
        return {key: _render(item, params) for key, item in value.items()}
    if isinstance(value, list):
        return [_render(item, params) for item in value]
    return value


def _lookup(params: dict[str, Any], dotted: str) -> Any:
    value: Any = params
    for part in dotted.split(".")[1:]:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return msgspec.json.encode(value).decode()
