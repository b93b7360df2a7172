"""Pipeline definitions: saving and checking, the review lifecycle, files, and runs by name."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import msgspec
import pytest

from controlplane.api.app import create_internal_app
from controlplane.engine.access.applications import create_key
from controlplane.engine.access.audit import CLI
from controlplane.engine.definitions.documents import (
    Document,
    check,
    check_params,
    dump_file,
    parse_file,
)
from controlplane.errors import InvalidRequest
from tests.dashboard import Dashboard, add_member, logged_in, services_for
from tests.system import System, longest_hold

NIGHTLY = """\
apiVersion: pipelogiq/v1
kind: PipelineDefinition
name: nightly-orders
description: |
  Loads the day's orders.
  Then counts them.
keywords: [orders]
params:
  type: object
  properties:
    day: {type: string, format: date}
    limit: {type: integer, minimum: 1, default: 100}
    country: {type: string, enum: [NO, SE]}
  required: [day]
context:
  team: data
stages:
  - name: load
    handler: loader
    input:
      path: "s3://orders/{{ params.day }}.csv"
      limit: "{{ params.limit }}"
      country: "{{ params.country }}"
    maxRetries: 2
  - name: count
    template: transform
    input: {expression: "len(data)"}
    timeoutSeconds: 60
"""


@pytest.fixture
async def system(rabbit_system: System) -> System:
    """Definitions do not depend on the broker; their runs go through the real one."""
    return rabbit_system


async def imported(
    system: System, who: Dashboard, content: str = NIGHTLY, **extra: Any
) -> dict[str, Any]:
    body = {"applicationId": str(system.application.id), "content": content, **extra}
    response = await who.send("POST", "/api/definitions/import", body)
    assert response.status_code == 200, response.text
    return response.json()


async def step(
    who: Dashboard, version: dict[str, Any], name: str, comment: str | None = None
) -> Any:
    path = f"/api/definitions/{version['definitionId']}/versions/{version['version']}/{name}"
    return await who.send("POST", path, {"comment": comment} if comment else None)


async def run(system: System, **body: Any) -> dict[str, Any]:
    """Start a run of a definition over the external API."""
    response = await system.client.post("/pipelines", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def published(system: System, people: dict[str, Dashboard]) -> dict[str, Any]:
    version = (await imported(system, people["ada"]))["version"]
    assert (await step(people["ada"], version, "submit")).status_code == 200
    response = await step(people["bob"], version, "approve", "looks right")
    assert response.status_code == 200, response.text
    return response.json()


# -- the lifecycle ------------------------------------------------------------------------------


async def test_a_version_goes_through_review_and_is_immutable_once_published(
    system: System, people: dict[str, Dashboard]
) -> None:
    ada, bob = people["ada"], people["bob"]
    saved = await imported(system, ada)
    assert (saved["created"], saved["changed"]) == (True, True)
    v1 = saved["version"]
    assert (v1["version"], v1["status"], v1["authors"]) == (1, "draft", ["ada@example.com"])

    # Only a draft is submitted; only what is in review is approved or rejected.
    assert (await step(bob, v1, "approve")).json()["code"] == "invalid_transition"
    assert (await step(ada, v1, "submit")).json()["status"] == "in_review"
    assert (await step(ada, v1, "submit")).status_code == 409
    # In review, the document is frozen.
    edit = await ada.send(
        "PUT",
        f"/api/definitions/{v1['definitionId']}/draft",
        {"content": NIGHTLY.replace("limit: {type", "limit:  {type").replace("100", "50")},
    )
    assert (edit.status_code, edit.json()["code"]) == (409, "version_in_review")

    # A reviewer rejects with a comment (required) and the version is a draft again.
    assert (await step(bob, v1, "reject")).json()["code"] == "comment_required"
    rejected = (await step(bob, v1, "reject", "limit too high")).json()
    assert (rejected["status"], rejected["reviewedBy"], rejected["reviewComment"]) == (
        "draft",
        "bob@example.com",
        "limit too high",
    )
    fixed = NIGHTLY.replace("default: 100", "default: 50")
    assert (await imported(system, ada, fixed))["version"]["version"] == 1  # the same draft
    assert (await step(ada, v1, "submit")).json()["reviewComment"] is None

    # The author may not approve their own version; someone else may.
    refused = await step(ada, v1, "approve")
    assert (refused.status_code, refused.json()["code"]) == (403, "self_approval")
    approved = (await step(bob, v1, "approve", "ok")).json()
    assert (approved["status"], approved["reviewedBy"]) == ("published", "bob@example.com")
    assert approved["publishedAt"] is not None

    # Published is immutable: editing makes version 2, a draft; v1 stays as it was.
    again = await imported(system, ada, fixed.replace("default: 50", "default: 20"))
    assert (again["version"]["version"], again["version"]["status"]) == (2, "draft")
    v1_now = (await ada.get(f"/api/definitions/{v1['definitionId']}/versions/1")).json()
    assert v1_now["document"]["params"]["properties"]["limit"]["default"] == 50
    assert v1_now["status"] == "published"

    # Archiving: from draft or published; an archived version moves no more.
    assert (await step(ada, v1, "archive")).json()["status"] == "archived"
    assert (await step(ada, v1, "submit")).json()["code"] == "invalid_transition"

    history = (await ada.get(f"/api/definitions/{v1['definitionId']}/history")).json()
    assert [(h["action"], h["actor"]) for h in reversed(history)] == [
        ("definition.created", "ada@example.com"),
        ("definition.submitted", "ada@example.com"),
        ("definition.rejected", "bob@example.com"),
        ("definition.draft_saved", "ada@example.com"),
        ("definition.submitted", "ada@example.com"),
        ("definition.published", "bob@example.com"),
        ("definition.draft_saved", "ada@example.com"),
        ("definition.archived", "ada@example.com"),
    ]
    assert history[0]["details"] == {"name": "nightly-orders", "version": 1}


# Which moves each status allows; every other is refused with 409 invalid_transition.
ALLOWED = {
    "draft": {"submit": "in_review", "archive": "archived"},
    "in_review": {
        "withdraw": "draft",
        "approve": "published",
        "reject": "draft",
        "archive": "archived",
    },
    "published": {"archive": "archived"},
    "archived": {},
}


async def version_in(
    system: System, people: dict[str, Dashboard], status: str, name: str
) -> dict[str, Any]:
    """A new definition whose version 1 is in ``status``, written by ada."""
    content = NIGHTLY.replace("name: nightly-orders", f"name: {name}")
    version = (await imported(system, people["ada"], content))["version"]
    steps = {
        "draft": [],
        "in_review": [("ada", "submit")],
        "published": [("ada", "submit"), ("bob", "approve")],
        "archived": [("ada", "archive")],
    }[status]
    for who, move in steps:
        assert (await step(people[who], version, move)).status_code == 200
    return version


@pytest.mark.parametrize("status", list(ALLOWED))
async def test_each_status_allows_its_moves_and_refuses_the_rest(
    system: System, people: dict[str, Dashboard], status: str
) -> None:
    for move in ("submit", "withdraw", "approve", "reject", "archive"):
        version = await version_in(system, people, status, f"{status}-{move}")
        answer = await step(people["bob"], version, move, "a comment")
        if move in ALLOWED[status]:
            assert answer.status_code == 200, (status, move, answer.text)
            assert answer.json()["status"] == ALLOWED[status][move]
        else:
            assert (answer.status_code, answer.json()["code"]) == (409, "invalid_transition")
            assert answer.json()["versionStatus"] == status
            stored = await system.pool.fetchval(
                "SELECT status FROM definition_versions WHERE definition_id = $1",
                uuid.UUID(version["definitionId"]),
            )
            assert stored == status  # refused, and nothing changed


async def test_whoever_edited_a_version_may_not_approve_it(
    system: System, people: dict[str, Dashboard]
) -> None:
    ada, bob = people["ada"], people["bob"]
    v1 = (await imported(system, ada))["version"]
    edited = await imported(system, bob, NIGHTLY.replace("default: 100", "default: 7"))
    assert edited["version"]["authors"] == ["ada@example.com", "bob@example.com"]
    await step(ada, v1, "submit")
    for author in (ada, bob):
        assert (await step(author, v1, "approve")).json()["code"] == "self_approval"
    # Withdrawn, it is a draft again and can be edited.
    assert (await step(ada, v1, "withdraw")).json()["status"] == "draft"


async def test_operators_read_and_run_but_do_not_write_or_review(
    system: System, people: dict[str, Dashboard]
) -> None:
    olga = people["olga"]
    v1 = (await imported(system, people["ada"]))["version"]
    body = {"applicationId": str(system.application.id), "content": NIGHTLY}
    assert (await olga.send("POST", "/api/definitions/import", body)).status_code == 403
    await step(people["ada"], v1, "submit")
    assert (await step(olga, v1, "approve")).status_code == 403
    await step(people["bob"], v1, "approve")
    listed = (await olga.get("/api/definitions")).json()["items"]
    assert [(d["name"], d["publishedVersion"], d["latestStatus"]) for d in listed] == [
        ("nightly-orders", 1, "published")
    ]
    run = await olga.send(
        "POST", f"/api/definitions/{v1['definitionId']}/runs", {"params": {"day": "2026-12-01"}}
    )
    assert run.status_code == 201, run.text


async def test_someone_without_the_application_sees_no_definition(
    system: System, people: dict[str, Dashboard]
) -> None:
    v1 = (await imported(system, people["ada"]))["version"]
    other = await system.pool.fetchval(
        "INSERT INTO applications (name) VALUES ('other') RETURNING id"
    )
    await add_member(system.pool, other, "eve@example.com", "developer")
    app = create_internal_app(services_for(system.pool, system.services.broker))
    client = await logged_in(app, "eve@example.com")
    try:
        eve = Dashboard(client)
        assert (await eve.get(f"/api/definitions/{v1['definitionId']}")).status_code == 404
        assert (await eve.get("/api/definitions")).json()["items"] == []
        assert (await step(eve, v1, "submit")).status_code == 404
    finally:
        await client.aclose()


# -- checks ---------------------------------------------------------------------------------------


async def test_every_problem_is_reported_with_its_place_and_nothing_is_saved(
    system: System, people: dict[str, Dashboard]
) -> None:
    broken = (
        NIGHTLY.replace("    maxRetries: 2", "    maxRetries: 2\n    dependsOn: [nowhere]")
        .replace("{{ params.country }}", "{{ params.region }}")
        .replace("required: [day]", "required: day")
        .replace("  - name: count\n    template", "  - name: load\n    template")
    )
    response = await people["ada"].send(
        "POST", "/api/definitions/check", {"content": broken, "format": "yaml"}
    )
    errors = response.json()["errors"]
    assert response.json()["valid"] is False
    assert {(e["path"], e["line"]) for e in errors} == {
        ("stages[1].name", 26),  # a second stage named load
        ("stages[0].dependsOn[0]", 25),  # nowhere
        ("params.required", 14),  # not an array
        ("stages[0].input.country", 23),  # an undeclared param
    }
    body = {"applicationId": str(system.application.id), "content": broken}
    refused = await people["ada"].send("POST", "/api/definitions/import", body)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_definition")
    assert len(refused.json()["errors"]) == 4
    assert await system.pool.fetchval("SELECT count(*) FROM definitions") == 0


async def test_a_template_nobody_serves_is_refused_and_one_a_worker_serves_is_taken(
    system: System, people: dict[str, Dashboard]
) -> None:
    # A stage of a template that no worker could run would wait for ever: refused at save.
    content = NIGHTLY.replace("template: transform", "template: acme.score")
    body = {"applicationId": str(system.application.id), "content": content}
    refused = await people["ada"].send("POST", "/api/definitions/import", body)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_definition")
    [error] = refused.json()["errors"]
    assert error["path"] == "stages[1].template"
    assert "'acme.score'" in error["message"]
    line = content.splitlines().index("    template: acme.score") + 1
    assert (error["line"], error["column"]) == (line, 15)
    assert await system.pool.fetchval("SELECT count(*) FROM definitions") == 0
    # The editor's check says so before any save.
    source = {"content": content}
    checked = (await people["ada"].send("POST", "/api/definitions/check", source)).json()
    assert (checked["valid"], [e["path"] for e in checked["errors"]]) == (
        False,
        ["stages[1].template"],
    )
    # Once an online worker of the application says it serves that template, it is taken.
    response = await system.client.post(
        "/workers/bootstrap",
        json={
            "workerName": "scorer",
            "handlers": ["acme.score"],
            "metadata": {"templates": {"acme.score": "2.0"}},
        },
    )
    assert response.status_code == 200, response.text
    checked = (await people["ada"].send("POST", "/api/definitions/check", source)).json()
    assert checked == {"valid": True, "errors": []}
    taken = await people["ada"].send("POST", "/api/definitions/import", body)
    assert taken.status_code == 200, taken.text


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (
            ("name: count\n", "name: count\n    dependsOn: [count]\n"),
            "stages[1].dependsOn[0]",
            "itself",
        ),
        (
            ("    handler: loader\n", "    handler: loader\n    dependsOn: [count]\n"),
            "stages[0].dependsOn",
            "cycle",
        ),
        (
            ("    handler: loader\n", "    handler: loader\n    template: x\n"),
            "stages[0]",
            "one of the two",
        ),
        (("maxRetries: 2", "maxRetries: many"), "stages[0].maxRetries", "Expected `int`"),
        (("params:\n  type: object", "params:\n  type: array"), "params.type", "object"),
        (
            ("format: date}", "format: date, $ref: 'https://x/y'}"),
            "params.properties.day.$ref",
            "within the schema",
        ),
        (("kind: PipelineDefinition", "kind: Pipeline"), "kind", "Invalid enum value"),
        (("name: nightly-orders", "name: nightly orders"), "name", "Letters, digits and _ . -"),
    ],
)
async def test_a_bad_definition_is_refused_with_the_path_of_the_problem(
    system: System,
    people: dict[str, Dashboard],
    change: tuple[str, str],
    path: str,
    message: str,
) -> None:
    assert change[0] in NIGHTLY
    content = NIGHTLY.replace(*change)
    body = {"applicationId": str(system.application.id), "content": content}
    response = await people["ada"].send("POST", "/api/definitions/import", body)
    assert response.status_code == 422, response.text
    [error] = [e for e in response.json()["errors"] if e["path"] == path]
    assert message in error["message"]


@pytest.mark.parametrize(
    ("content", "file_format", "where"),
    [
        ("a: [1, 2\nb: 3\n", "yaml", (2, 2)),
        ("stages: &s [1]\nagain: *s\n", "yaml", (2, 8)),
        ('{"name": "x",\n  "stages": [}', "json", (2, 14)),
        ("---\na: 1\n---\nb: 2\n", "yaml", None),
    ],
)
async def test_a_file_that_does_not_parse_is_refused_with_its_line(
    people: dict[str, Dashboard], content: str, file_format: str, where: Any
) -> None:
    response = await people["ada"].send(
        "POST", "/api/definitions/check", {"content": content, "format": file_format}
    )
    [error] = response.json()["errors"]
    assert (error.get("line"), error.get("column")) == (where or (None, None))


# -- files --------------------------------------------------------------------------------------


async def test_export_then_import_round_trips_exactly(
    system: System, people: dict[str, Dashboard]
) -> None:
    ada = people["ada"]
    v1 = (await imported(system, ada))["version"]
    base = f"/api/definitions/{v1['definitionId']}/versions/1/export"
    for file_format in ("yaml", "json"):
        exported = await ada.get(f"{base}?format={file_format}")
        assert exported.status_code == 200
        assert "attachment" in exported.headers["content-disposition"]
        # The file holds exactly the document as it was saved, key order included...
        parsed = parse_file(exported.text, file_format)  # type: ignore[arg-type]
        assert msgspec.json.encode(parsed.raw) == msgspec.json.encode(v1["document"])
        # ...so importing it again changes nothing, and exporting again gives the same bytes.
        again = await imported(system, ada, exported.text, format=file_format)
        assert (again["changed"], again["version"]["version"]) == (False, 1)
        assert (await ada.get(f"{base}?format={file_format}")).text == exported.text
    # What YAML 1.1 would have turned into booleans and dates stays text.
    document = v1["document"]
    assert document["params"]["properties"]["country"]["enum"] == ["NO", "SE"]
    assert document["description"] == "Loads the day's orders.\nThen counts them.\n"


def test_the_yaml_written_reads_back_as_the_same_data() -> None:
    tricky = {
        "b": ["yes", "no", "on", "2024-01-01", "1e3", "0x10", "null", "~", "", " padded "],
        "a": {"multi": "line one\nline two\n", "trailing": "ends with spaces  \nx", "n": 1.5},
        "unicode": "Zürich ✓",
        "nested": [[], {}, None, True, 0],
        "numbers-as-text": ["012", "1:30", "0o17", "1_000", ".5", "+12", ".nan", "<<", "="],
        "numbers": [1e17, 1e-7, -3, 2**62],
        "<<": {"a": 1},
    }
    text = dump_file(tricky, "yaml")
    assert msgspec.json.encode(parse_file(text, "yaml").raw) == msgspec.json.encode(tricky)
    assert "multi: |" in text


def test_yaml_is_read_by_the_core_schema_of_yaml_1_2() -> None:
    # PyYAML reads YAML 1.1: 012 is 10, 1:30 is 90, 1e3 text, 1_000 a thousand, << merges.
    text = "a: 012\nb: 1:30\nc: 1e3\nd: 1_000\ne: 0o17\nf: 0x1F\ng: off\n<<: {h: 1}\ni: =\n"
    assert parse_file(text, "yaml").raw == {
        "a": 12,
        "b": "1:30",
        "c": 1000.0,
        "d": "1_000",
        "e": 15,
        "f": 31,
        "g": "off",
        "<<": {"h": 1},
        "i": "=",
    }


@pytest.mark.parametrize("number", [".nan", ".NaN", "-.inf", ".Inf", "!!float 1e999"])
def test_yaml_numbers_json_cannot_hold_are_refused_with_their_place(number: str) -> None:
    # (msgspec would have written NaN and infinity as null.)
    with pytest.raises(InvalidRequest) as refused:
        parse_file(f"name: x\nlimit: {number}\n", "yaml")
    assert refused.value.code == "invalid_definition_file"
    [problem] = refused.value.extra["errors"]
    assert (problem["path"], problem["line"], problem["column"]) == ("limit", 2, 8)
    assert "no JSON number" in problem["message"]


# -- runs -----------------------------------------------------------------------------------------


async def test_a_run_by_name_gets_the_latest_published_version_and_its_params(
    system: System, people: dict[str, Dashboard]
) -> None:
    await published(system, people)
    pipeline = await run(
        system, definition="nightly-orders", params={"day": "2026-12-01", "country": "NO"}
    )
    assert pipeline["name"] == "nightly-orders"
    assert pipeline["keywords"] == ["orders"]
    assert pipeline["context"] == {"team": "data"}
    assert pipeline["runOf"]["version"] == 1
    # Defaults are filled in, and the run records the params it ran with.
    assert pipeline["runOf"]["params"] == {"day": "2026-12-01", "country": "NO", "limit": 100}
    load, count = pipeline["stages"]
    assert load["input"] == {"path": "s3://orders/2026-12-01.csv", "limit": 100, "country": "NO"}
    assert (load["maxRetries"], count["handler"], count["timeoutSeconds"]) == (
        2,
        "transform",
        60,
    )
    assert count["dependsOn"] == ["load"]
    [job] = await system.pull("loader", wait=5)
    assert job["input"]["limit"] == 100

    # A second published version becomes the default; version 1 can still be asked for.
    ada, bob = people["ada"], people["bob"]
    v2 = (await imported(system, ada, NIGHTLY.replace("default: 100", "default: 5")))["version"]
    await step(ada, v2, "submit")
    await step(bob, v2, "approve")
    latest = await run(system, definition="nightly-orders", params={"day": "2026-12-02"})
    pinned = await run(system, definition="nightly-orders", version=1, params={"day": "2026-12-02"})
    assert (latest["runOf"]["version"], latest["stages"][0]["input"]["limit"]) == (2, 5)
    assert (pinned["runOf"]["version"], pinned["stages"][0]["input"]["limit"]) == (1, 100)

    # The dashboard links both ways: the pipeline names its version, the definition its runs.
    detail = (await ada.get(f"/api/pipelines/{latest['id']}")).json()
    assert detail["pipeline"]["runOf"]["definitionId"] == v2["definitionId"]
    runs = (await ada.get(f"/api/pipelines?definition={v2['definitionId']}")).json()["items"]
    assert sorted(r["definitionVersion"] for r in runs) == [1, 1, 2]
    assert (await ada.get(f"/api/definitions/{v2['definitionId']}")).json()["definition"][
        "runs"
    ] == 3


@pytest.mark.parametrize(
    ("params", "errors"),
    [
        ({}, [("params", "'day' is a required property")]),
        (
            {"day": "yesterday", "limit": 0, "country": "DK"},
            [
                ("params.country", "'DK' is not one of ['NO', 'SE']"),
                ("params.day", "'yesterday' is not a 'date'"),
                ("params.limit", "0 is less than the minimum of 1"),
            ],
        ),
    ],
)
async def test_params_are_checked_against_the_schema(
    system: System,
    people: dict[str, Dashboard],
    params: dict[str, Any],
    errors: list[tuple[str, str]],
) -> None:
    await published(system, people)
    response = await system.client.post(
        "/pipelines", json={"definition": "nightly-orders", "params": params}
    )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_params")
    assert [(e["path"], e["message"]) for e in response.json()["errors"]] == errors
    assert await system.pool.fetchval("SELECT count(*) FROM pipelines") == 0


async def test_only_published_versions_run(system: System, people: dict[str, Dashboard]) -> None:
    await imported(system, people["ada"])

    async def run(**body: Any) -> Any:
        return await system.client.post("/pipelines", json=body)

    draft_only = await run(definition="nightly-orders", params={"day": "2026-12-01"})
    assert (draft_only.status_code, draft_only.json()["code"]) == (409, "version_not_published")
    missing = await run(definition="weekly")
    assert (missing.status_code, missing.json()["code"]) == (404, "definition_not_found")
    both = await run(definition="nightly-orders", stages=[{"name": "a", "handler": "h"}])
    assert both.json()["code"] == "definition_or_stages"
    neither = await run(keywords=["x"])
    assert neither.json()["code"] == "stages_required"
    stray = await run(name="x", stages=[{"name": "a", "handler": "h"}], params={"a": 1})
    assert stray.json()["code"] == "definition_required"


async def test_a_run_with_an_idempotency_key_is_started_once(
    system: System, people: dict[str, Dashboard]
) -> None:
    await published(system, people)
    body = {"definition": "nightly-orders", "params": {"day": "2026-12-01"}, "idempotencyKey": "k"}
    first = await system.client.post("/pipelines", json=body)
    second = await system.client.post("/pipelines", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    # Sent again after its version was archived: still the same pipeline, not a refusal.
    [version] = (await people["ada"].get("/api/definitions")).json()["items"]
    archived = await people["ada"].send(
        "POST", f"/api/definitions/{version['id']}/versions/1/archive"
    )
    assert archived.json()["status"] == "archived"
    third = await system.client.post("/pipelines", json=body)
    assert (third.status_code, third.json()["id"]) == (200, first.json()["id"])
    other = await system.client.post("/pipelines", json={**body, "idempotencyKey": "k2"})
    assert other.json()["code"] == "version_not_published"


# -- from code, with an API key -------------------------------------------------------------------


async def test_a_key_with_the_define_scope_pushes_drafts_that_people_publish(
    system: System, people: dict[str, Dashboard]
) -> None:
    headers = {"Content-Type": "application/yaml"}
    pushed = await system.client.put(
        "/definitions/nightly-orders?submit=true", content=NIGHTLY, headers=headers
    )
    assert pushed.status_code == 200, pushed.text
    version = pushed.json()["version"]
    assert version["status"] == "in_review"
    assert version["authors"] == [f"API key of {system.application.name}"]
    # The same file again: nothing new.
    again = await system.client.put("/definitions/nightly-orders", content=NIGHTLY, headers=headers)
    assert again.json()["changed"] is False
    # Any developer may approve what a key wrote.
    assert (await step(people["ada"], version, "approve")).json()["status"] == "published"
    listed = (await system.client.get("/definitions")).json()["definitions"]
    assert [(d["name"], d["version"]) for d in listed] == [("nightly-orders", 1)]
    read = (await system.client.get("/definitions/nightly-orders")).json()
    assert read["document"]["name"] == "nightly-orders"

    wrong_name = await system.client.put("/definitions/other", content=NIGHTLY, headers=headers)
    assert wrong_name.json()["code"] == "definition_name_mismatch"
    as_text = await system.client.put(
        "/definitions/nightly-orders", content=NIGHTLY, headers={"Content-Type": "text/plain"}
    )
    assert (as_text.status_code, as_text.json()["code"]) == (415, "unsupported_media_type")
    as_json = await system.client.put(
        "/definitions/nightly-orders",
        content=msgspec.json.encode(parse_file(NIGHTLY, "yaml").raw),
        headers={"Content-Type": "application/json"},
    )
    assert as_json.json()["changed"] is False  # the same data, in the same order


async def test_a_key_without_the_define_scope_cannot_push(system: System) -> None:
    async with system.pool.acquire() as connection:
        _, key = await create_key(connection, CLI, system.application.id, "ci", scopes=["read"])
    response = await system.client.put(
        "/definitions/nightly-orders",
        content=NIGHTLY,
        headers={"Content-Type": "application/yaml", "X-API-Key": key},
    )
    assert (response.status_code, response.json()["code"]) == (403, "insufficient_scope")


BACKTRACKING = """\
apiVersion: pipelogiq/v1
kind: PipelineDefinition
name: greedy
params:
  type: object
  properties:
    word: {type: string, pattern: "^(a+)+$"}
stages:
  - name: greet
    handler: echo
    input: {word: "{{ params.word }}"}
"""


async def test_a_params_pattern_that_backtracks_is_cut_off_without_holding_the_api(
    system: System, people: dict[str, Dashboard]
) -> None:
    # A reviewed schema with a careless regex, and a submitter who sends the input that makes
    # it backtrack: Python's regex would run for hours on the event loop.
    version = (await imported(system, people["ada"], BACKTRACKING))["version"]
    assert (await step(people["ada"], version, "submit")).status_code == 200
    assert (await step(people["bob"], version, "approve", "fine")).status_code == 200
    assert (await run(system, definition="greedy", params={"word": "aaaa"}))["name"] == "greedy"
    async with longest_hold() as held:
        # (A bound, so that a regression fails rather than hangs the suite.)
        response = await asyncio.wait_for(
            system.client.post(
                "/pipelines", json={"definition": "greedy", "params": {"word": "a" * 40 + "!"}}
            ),
            timeout=30,
        )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_params")
    assert "more than 1 s" in response.json()["errors"][0]["message"]
    assert held[0] < 0.25, f"the event loop was held for {held[0]:.3f} s of CPU"
    assert held[1] < 0.9, f"the event loop waited {held[1]:.3f} s"
    # The next check of the same schema gets a child process of its own, and passes.
    assert (await run(system, definition="greedy", params={"word": "aa"}))["name"] == "greedy"


@pytest.mark.parametrize("pattern", [r"\p{L}+", "(?<n>a)", "[", "a{2,1}"])
async def test_a_params_pattern_python_cannot_run_is_refused_when_saved(
    system: System, people: dict[str, Dashboard], pattern: str
) -> None:
    document = BACKTRACKING.replace('"^(a+)+$"', json.dumps(pattern))
    body = {"applicationId": str(system.application.id), "content": document}
    response = await people["ada"].send("POST", "/api/definitions/import", body)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_definition")
    [error] = response.json()["errors"]
    assert error["path"] == "params.properties.word.pattern"


UNIQUE = """\
apiVersion: pipelogiq/v1
kind: PipelineDefinition
name: unique
params:
  type: object
  properties:
    tags: {type: array, uniqueItems: true}
stages:
  - name: greet
    handler: echo
"""


async def test_params_that_take_long_to_check_without_a_regex_are_cut_off_too(
    system: System, people: dict[str, Dashboard]
) -> None:
    # uniqueItems compares the items pairwise: thousands of objects take minutes.
    version = (await imported(system, people["ada"], UNIQUE))["version"]
    assert (await step(people["ada"], version, "submit")).status_code == 200
    assert (await step(people["bob"], version, "approve", "fine")).status_code == 200
    tags = [{"tag": n} for n in range(5_000)]
    async with longest_hold() as held:
        response = await asyncio.wait_for(
            system.client.post(
                "/pipelines", json={"definition": "unique", "params": {"tags": tags}}
            ),
            timeout=30,
        )
    assert (response.status_code, response.json()["code"]) == (422, "invalid_params")
    assert held[0] < 0.25, f"the event loop was held for {held[0]:.3f} s of CPU"
    assert held[1] < 0.9, f"the event loop waited {held[1]:.3f} s"
    assert (await run(system, definition="unique", params={"tags": [1, 2]}))["name"] == "unique"


LOOPS = [
    ('word: {type: string, pattern: "^(a+)+$"}', "word: {$ref: '#/properties/word'}"),
    (
        'word: {type: string, pattern: "^(a+)+$"}',
        "word: {$ref: '#/$defs/a'}\n  $defs:\n    a: {anyOf: [{type: string}, {$ref: '#/$defs/b'}]}"
        "\n    b: {allOf: [{$ref: '#/$defs/a'}]}",
    ),
]


@pytest.mark.parametrize(("before", "after"), LOOPS, ids=["itself", "through-anyOf-and-allOf"])
async def test_a_params_schema_that_refers_to_itself_without_end_is_refused_when_saved(
    system: System, people: dict[str, Dashboard], before: str, after: str
) -> None:
    # Checking any params against it would go round for ever (a RecursionError, which was
    # answered as a body nested too deep).
    document = BACKTRACKING.replace(before, after)
    body = {"applicationId": str(system.application.id), "content": document}
    response = await people["ada"].send("POST", "/api/definitions/import", body)
    assert (response.status_code, response.json()["code"]) == (422, "invalid_definition"), (
        response.text
    )
    [error] = response.json()["errors"]
    assert error["path"].startswith("params.")
    assert error["path"].endswith(".$ref")
    assert "refers to itself without end" in error["message"]


def test_a_recursive_schema_that_descends_into_the_value_is_fine() -> None:
    tree = {
        "type": "object",
        "$defs": {
            "node": {"type": "object", "properties": {"kids": {"items": {"$ref": "#/$defs/node"}}}}
        },
        "properties": {"root": {"$ref": "#/$defs/node"}},
    }
    assert check_params(tree, {"root": {"kids": [{"kids": []}]}})["root"]["kids"][0] == {"kids": []}


def test_a_version_saved_with_a_looping_schema_is_answered_when_run() -> None:
    # Saved before loops were refused: each run says why, rather than too_deep.
    with pytest.raises(InvalidRequest) as refused:
        check_params({"type": "object", "$ref": "#"}, {"a": 1})
    assert refused.value.code == "invalid_params"
    assert "refers to itself without end" in refused.value.detail


def _document(params: Any = None, stage: str = "a") -> dict[str, Any]:
    document: dict[str, Any] = {
        "apiVersion": "pipelogiq/v1",
        "kind": "PipelineDefinition",
        "name": "x",
        "stages": [{"name": stage, "handler": "h"}],
    }
    if params is not None:
        document["params"] = params
    return document


@pytest.mark.parametrize(
    ("params", "path", "says"),
    [
        ({"type": "object", "$ref": "#/nope"}, "params.$ref", "names no part"),
        ({"type": "object", "allOf": [{"$ref": "#/allOf/²"}]}, "params.allOf[0].$ref", "no part"),
        (
            {"type": "object", "$defs": {"a b": {"$ref": "#/$defs/a%20b"}}},
            "params.$defs.a b.$ref",
            "without end",
        ),
        (
            {"type": "object", "$defs": {"a": {"$anchor": "A", "$ref": "#A"}}},
            "params.$defs.a.$ref",
            "without end",
        ),
        # The library's own failure on a schema it cannot follow was a server error.
        ({"type": "object", "properties": {"a": {"$id": "http://[::1"}}}, "params", "cannot be"),
        (
            {"type": "object", "dependentSchemas": {"x": {"$ref": "#"}}},
            "params.dependentSchemas.x.$ref",
            "without end",
        ),
    ],
)
def test_a_params_reference_is_resolved_as_the_check_will_when_saved(
    params: Any, path: str, says: str
) -> None:
    # A reference to nothing failed each run with a server error; a loop went round for ever.
    with pytest.raises(InvalidRequest) as refused:
        check(_document(params), max_input_bytes=1_000_000)
    [problem] = refused.value.extra["errors"]
    assert problem["path"] == path
    assert says in problem["message"]


def test_a_stage_name_saved_before_names_were_plain_text_still_loads() -> None:
    stored = _document(stage="load\tall")
    assert msgspec.convert(stored, Document).stages[0].name == "load\tall"  # runs, as before
    with pytest.raises(InvalidRequest) as refused:  # but a new save is refused
        check(stored, max_input_bytes=1_000_000)
    [problem] = refused.value.extra["errors"]
    assert problem["path"] == "stages[0].name"
    assert "bidirectional" in problem["message"]


def test_a_version_saved_with_a_reference_to_nothing_is_answered_when_run() -> None:
    with pytest.raises(InvalidRequest) as refused:
        check_params({"type": "object", "properties": {"a": {"$ref": "#/nope"}}}, {"a": 1})
    assert refused.value.code == "invalid_params"


# -- deleting -------------------------------------------------------------------------------------


async def remove(who: Dashboard, definition_id: Any) -> Any:
    return await who.send("DELETE", f"/api/definitions/{definition_id}")


async def rows_of(system: System, definition_id: str) -> tuple[int, int, int]:
    """The definition's rows: itself, its versions, its schedules."""
    row = await system.pool.fetchrow(
        "SELECT (SELECT count(*) FROM definitions WHERE id = $1) AS definitions,"
        " (SELECT count(*) FROM definition_versions WHERE definition_id = $1) AS versions,"
        " (SELECT count(*) FROM schedules WHERE definition_id = $1) AS schedules",
        uuid.UUID(definition_id),
    )
    return row["definitions"], row["versions"], row["schedules"]


async def test_a_definition_never_run_goes_with_its_versions_and_schedules(
    system: System, people: dict[str, Dashboard]
) -> None:
    v1 = await published(system, people)
    definition_id = v1["definitionId"]
    draft = await imported(system, people["ada"], NIGHTLY.replace("Loads", "Reads"))
    assert draft["version"]["version"] == 2
    schedule = {
        "definitionId": definition_id,
        "name": "hourly",
        "intervalSeconds": 3600,
        "params": {"day": "2026-12-01"},
    }
    created = await people["ada"].send("POST", "/api/schedules", schedule)
    assert created.status_code == 201, created.text
    assert await rows_of(system, definition_id) == (1, 2, 1)
    # An operator reads and runs, and does not delete.
    assert (await remove(people["olga"], definition_id)).status_code == 403

    deleted = await remove(people["bob"], definition_id)

    assert deleted.status_code == 204, deleted.text
    assert await rows_of(system, definition_id) == (0, 0, 0)
    gone = await people["ada"].get(f"/api/definitions/{definition_id}")
    assert gone.status_code == 404
    assert (await remove(people["bob"], definition_id)).status_code == 404
    entry = await system.pool.fetchrow(
        "SELECT actor, details FROM audit_log WHERE action = 'definition.deleted'"
        " AND target_id = $1",
        definition_id,
    )
    assert entry["actor"] == "bob@example.com"
    assert entry["details"] == {"name": "nightly-orders", "versions": 2, "schedules": 1}
    # Its name is free again: an import makes a new definition.
    again = await imported(system, people["ada"])
    assert again["created"] is True


async def test_a_definition_with_a_run_stays_whole(
    system: System, people: dict[str, Dashboard]
) -> None:
    v1 = await published(system, people)
    definition_id = v1["definitionId"]
    await run(system, definition="nightly-orders", params={"day": "2026-12-01"})

    refused = await remove(people["ada"], definition_id)

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "definition_has_runs"
    assert refused.json()["runs"] == 1
    assert await rows_of(system, definition_id) == (1, 1, 0)
    assert await system.pool.fetchval(
        "SELECT count(*) FROM pipelines WHERE definition_id = $1", uuid.UUID(definition_id)
    )
    assert not await system.pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'definition.deleted'"
    )


async def waiting_for_a_lock(system: System) -> None:
    for _ in range(500):
        if await system.pool.fetchval("SELECT count(*) FROM pg_locks WHERE NOT granted"):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("nothing waited for a lock")


async def test_a_run_started_while_the_definition_is_deleted_keeps_it(
    system: System, people: dict[str, Dashboard]
) -> None:
    v1 = await published(system, people)
    definition_id = uuid.UUID(v1["definitionId"])
    async with system.pool.acquire() as db, db.transaction():
        # A run whose insert is under way (not committed yet) when the deletion starts.
        await db.execute(
            "INSERT INTO pipelines (application_id, name, definition_id, definition_version)"
            " VALUES ($1, 'nightly-orders', $2, 1)",
            system.application.id,
            definition_id,
        )
        deleting = asyncio.create_task(remove(people["ada"], definition_id))
        await waiting_for_a_lock(system)  # the deletion waits for the run's commit
        assert not deleting.done()
    refused = await deleting
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "definition_has_runs"
    # The run still names its definition, which is still there.
    assert await system.pool.fetchval(
        "SELECT count(*) FROM pipelines WHERE definition_id = $1", definition_id
    )
    assert await rows_of(system, str(definition_id)) == (1, 1, 0)


async def test_a_run_after_the_deletion_finds_no_definition(
    system: System, people: dict[str, Dashboard]
) -> None:
    v1 = await published(system, people)
    assert (await remove(people["ada"], v1["definitionId"])).status_code == 204
    started = await system.client.post(
        "/pipelines", json={"definition": "nightly-orders", "params": {"day": "2026-12-01"}}
    )
    assert started.status_code == 404
    assert started.json()["code"] == "definition_not_found"


async def test_another_applications_definition_cannot_be_deleted_nor_probed(
    system: System, people: dict[str, Dashboard]
) -> None:
    v1 = (await imported(system, people["ada"]))["version"]
    other = await system.pool.fetchval(
        "INSERT INTO applications (name) VALUES ('other') RETURNING id"
    )
    await add_member(system.pool, other, "eve@example.com", "developer")
    app = create_internal_app(services_for(system.pool, system.services.broker))
    client = await logged_in(app, "eve@example.com")
    try:
        eve = Dashboard(client)
        theirs = await remove(eve, v1["definitionId"])
        nobodys = await remove(eve, uuid.uuid4())
        assert (theirs.status_code, nobodys.status_code) == (404, 404)
        assert theirs.json() == {**nobodys.json(), "detail": theirs.json()["detail"]}
        assert theirs.json()["code"] == "definition_not_found"
        for bad in ("not-an-id", "1", "%00", "0" * 300):
            answer = await eve.send("DELETE", f"/api/definitions/{bad}")
            assert 400 <= answer.status_code < 500, (bad, answer.status_code)
    finally:
        await client.aclose()
    assert await rows_of(system, v1["definitionId"]) == (1, 1, 0)
