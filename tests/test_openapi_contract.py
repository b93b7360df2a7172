"""What the OpenAPI documents promise, read off the documents themselves: errors as problem
documents, every status an operation answers, closed request bodies, the bounds of every
integer and of list items, and the shapes the generator alone would get wrong. The fuzzer
(test_fuzz) then holds the running APIs to them."""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.api.app import openapi_document
from controlplane.errors import PROBLEM_JSON

METHODS = ("get", "post", "put", "patch", "delete")


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def request_schemas(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every object schema a request body can hold, by name."""
    found: dict[str, dict[str, Any]] = {}
    todo = [
        media["schema"]
        for _, _, operation in operations(document)
        for media in operation.get("requestBody", {}).get("content", {}).values()
        if "schema" in media
    ]
    while todo:
        schema = todo.pop()
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            if name in found:
                continue
            found[name] = schema = resolve(document, schema)
        for key in ("oneOf", "anyOf", "allOf"):
            todo.extend(schema.get(key, []))
        todo.extend(schema.get("properties", {}).values())
        if isinstance(schema.get("items"), dict):
            todo.append(schema["items"])
    return found


@pytest.fixture(scope="module", params=["external", "internal"])
def document(request: pytest.FixtureRequest) -> dict[str, Any]:
    return openapi_document(request.param)


def test_every_error_is_a_problem_document(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert list(response["content"]) == [PROBLEM_JSON], (method, path, status)


def test_every_operation_lists_the_statuses_anything_can_answer(document: dict[str, Any]) -> None:
    for method, path, operation in operations(document):
        statuses = set(operation["responses"])
        assert "422" in statuses, (method, path)  # a NUL in the URL, a parameter out of bounds
        if path not in ("/healthz", "/version", "/metrics"):
            assert "503" in statuses, (method, path)
        if path not in ("/healthz", "/readyz", "/version", "/metrics"):
            assert "429" in statuses, (method, path)
        if "requestBody" in operation:
            assert {"413"} <= statuses, (method, path)
        if "{" in path:
            assert "404" in statuses, (method, path)


def test_the_external_api_says_what_its_key_may_get() -> None:
    document = openapi_document("external")
    for method, path, operation in operations(document):
        if path not in ("/healthz", "/readyz", "/version", "/metrics"):
            assert {"401", "403"} <= set(operation["responses"]), (method, path)
    submit = document["paths"]["/pipelines"]["post"]
    assert {"200", "201", "404", "409"} <= set(submit["responses"])  # a replay; a definition
    assert "404" in document["paths"]["/jobs/pull"]["post"]["responses"]  # unknown_worker


def test_request_bodies_refuse_unknown_fields(document: dict[str, Any]) -> None:
    schemas = request_schemas(document)
    assert schemas
    for name, schema in schemas.items():
        if "properties" in schema:
            assert schema.get("additionalProperties") is False, name


def test_every_integer_a_request_holds_is_bounded(document: dict[str, Any]) -> None:
    def integers(schema: dict[str, Any]) -> list[dict[str, Any]]:
        if schema.get("type") == "integer":
            return [schema]
        return [i for branch in schema.get("oneOf", []) for i in integers(branch)]

    for name, schema in request_schemas(document).items():
        for field, prop in schema.get("properties", {}).items():
            for integer in integers(prop):
                assert "maximum" in integer, (name, field)
                assert "minimum" in integer, (name, field)
    for method, path, operation in operations(document):
        for parameter in operation.get("parameters", []):
            for integer in integers(parameter["schema"]):
                assert "maximum" in integer, (method, path, parameter["name"])


def test_the_shapes_the_generator_alone_gets_wrong() -> None:
    document = openapi_document("external")
    schemas = document["components"]["schemas"]
    handlers = schemas["PullRequest"]["properties"]["handlers"]
    assert handlers["items"]["pattern"] == "^[A-Za-z0-9_.:-]{1,100}$"
    submit = schemas["PipelineSubmit"]
    assert [sorted(branch["required"]) for branch in submit["oneOf"]] == [
        ["name", "stages"],
        ["definition"],
    ]
    version = submit["properties"]["version"]["oneOf"][0]
    assert (version["minimum"], version["maximum"]) == (1, 2**31 - 1)
    context = resolve(document, schemas["JobResult"])["properties"]["context"]
    assert context["propertyNames"] == {"type": "string", "minLength": 1, "maxLength": 200}
    put = document["paths"]["/definitions/{name}"]["put"]
    assert set(put["requestBody"]["content"]) == {"application/yaml", "application/json"}
    assert {"409", "413", "415"} <= set(put["responses"])
    name = next(p for p in put["parameters"] if p["name"] == "name")
    assert name["schema"]["pattern"] == "^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
