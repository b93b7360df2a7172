"""Hostile input gets a clear 4xx with a stable code, and changes nothing: NUL characters,
deep nesting, too many values, numbers past what a column holds, bytes that are not UTF-8."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import jwt
import msgspec
import pytest

from controlplane.api.app import create_internal_app
from controlplane.errors import TooLarge
from controlplane.input_limits import MAX_JSON_DEPTH, MAX_JSON_VALUES, check_json_shape
from tests.dashboard import Dashboard, browser, member_of, services_for
from tests.processes import TEST_JWT_SECRET
from tests.system import System

NUL = "a\u0000b"


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


def nested_text(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


async def _count(system: System, table: str) -> int:
    return int(await system.pool.fetchval(f"SELECT count(*) FROM {table}"))


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


# -- NUL characters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pipeline",
    [
        {"name": NUL, "stages": [{"name": "a", "handler": "h"}]},
        {"name": "x", "stages": [{"name": "a", "handler": "h", "input": {"k": NUL}}]},
        {"name": "x", "stages": [{"name": "a", "handler": "h", "input": {NUL: 1}}]},
        {"name": "x", "stages": [{"name": "a", "handler": "h"}], "context": {"k": [NUL]}},
        {"name": "x", "stages": [{"name": "a", "handler": "h"}], "keywords": [NUL]},
    ],
    ids=["name", "input", "key", "context", "keyword"],
)
async def test_a_nul_anywhere_in_a_submit_is_refused_and_nothing_is_stored(
    rabbit_system: System, pipeline: dict[str, Any]
) -> None:
    response = await rabbit_system.client.post("/pipelines", json=pipeline)
    assert_problem(response, 422, "nul_character")
    assert await _count(rabbit_system, "pipelines") == 0


async def test_an_escaped_backslash_before_u0000_is_plain_text(rabbit_system: System) -> None:
    # In JSON, "\\u0000" is a backslash followed by u0000: six characters, no NUL.
    body = b'{"name": "x\\\\u0000", "stages": [{"name": "a", "handler": "h"}]}'
    response = await rabbit_system.client.post(
        "/pipelines", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 201, response.text
    assert response.json()["name"] == "x\\u0000"
    # The same text with a real NUL escape is refused.
    body = b'{"name": "x\\u0000", "stages": [{"name": "a", "handler": "h"}]}'
    response = await rabbit_system.client.post(
        "/pipelines", content=body, headers={"content-type": "application/json"}
    )
    assert_problem(response, 422, "nul_character")


async def test_one_result_holding_nul_is_refused_alone_and_the_rest_applied(
    rabbit_system: System,
) -> None:
    system = rabbit_system
    first = await system.submit([{"name": "a", "handler": "nul"}])
    second = await system.submit([{"name": "a", "handler": "nul"}])
    third = await system.submit([{"name": "a", "handler": "nul"}])
    jobs = {job["pipelineId"]: job for job in await system.pull_until("nul", 3)}
    bad_output = jobs[first["id"]]["jobId"]
    bad_log = jobs[second["id"]]["jobId"]
    good = jobs[third["id"]]["jobId"]
    answer = await system.ack(
        {"jobId": bad_output, "status": "completed", "output": {"text": NUL}},
        {
            "jobId": bad_log,
            "status": "failed",
            "error": {"message": "boom"},
            "logs": [{"level": "info", "message": NUL}],
        },
        {"jobId": good, "status": "completed", "output": {"text": "fine"}},
    )
    assert answer["accepted"] == [good]
    refused = {item["jobId"]: item for item in answer["rejected"]}
    assert refused.keys() == {bad_output, bad_log}
    assert refused[bad_output]["reason"] == "invalid_result"
    assert refused[bad_output]["code"] == "nul_character"
    assert refused[bad_output]["detail"].startswith("results[0].output.text:")
    assert refused[bad_log]["detail"].startswith("results[1].logs[0].message:")
    # Refused results change nothing: their stages still run, waiting for a good result.
    assert (await system.pipeline(first["id"]))["stages"][0]["status"] == "running"
    assert (await system.pipeline(second["id"]))["stages"][0]["status"] == "running"
    assert (await system.pipeline(third["id"]))["stages"][0]["status"] == "completed"
    # The same job can still report a result the database can hold.
    again = await system.ack({"jobId": bad_output, "status": "completed", "output": "ok"})
    assert again["accepted"] == [bad_output]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (
            "/logs",
            {
                "entries": [
                    {
                        "jobId": "00000000-0000-4000-8000-000000000000",
                        "level": "info",
                        "message": NUL,
                    }
                ]
            },
        ),
        ("/workers/bootstrap", {"workerName": NUL}),
        ("/workers/bootstrap", {"workerName": "w", "metadata": {"k": NUL}}),
    ],
    ids=["log-line", "worker-name", "worker-metadata"],
)
async def test_a_nul_in_worker_requests_is_refused(
    rabbit_system: System, path: str, body: dict[str, Any]
) -> None:
    response = await rabbit_system.client.post(path, json=body)
    assert_problem(response, 422, "nul_character")
    assert await _count(rabbit_system, "workers") == 0
    assert await _count(rabbit_system, "stage_logs") == 0


async def test_a_nul_in_a_query_string_or_path_is_refused(rabbit_system: System) -> None:
    response = await rabbit_system.client.get("/definitions/a%00b")
    assert_problem(response, 422, "nul_character")
    response = await rabbit_system.client.get("/definitions/x", params={"version": "1\x00"})
    assert_problem(response, 422, "nul_character")


@pytest.fixture
async def developer(rabbit_system: System) -> Dashboard:
    return await member_of(rabbit_system, "dev@example.com", "developer")


async def test_a_nul_in_a_dashboard_search_is_refused(developer: Dashboard) -> None:
    response = await developer.get("/api/pipelines?search=a%00b")
    assert_problem(response, 422, "nul_character")


YAML_WITH_NUL = """\
apiVersion: pipelogiq/v1
kind: PipelineDefinition
name: nul
description: "a\\0b"
stages:
  - name: greet
    handler: echo
"""


async def test_a_yaml_nul_escape_is_refused_with_its_place(
    rabbit_system: System, developer: Dashboard
) -> None:
    response = await rabbit_system.client.put(
        "/definitions/nul", content=YAML_WITH_NUL, headers={"content-type": "application/yaml"}
    )
    body = assert_problem(response, 422, "invalid_definition_file")
    [error] = body["errors"]
    assert error["path"] == "description"
    assert (error["line"], error["column"]) == (4, 14)
    assert "NUL" in error["message"]
    assert await _count(rabbit_system, "definitions") == 0
    # The dashboard's check says the same, as a problem of the file.
    check = await developer.send(
        "POST", "/api/definitions/check", {"content": YAML_WITH_NUL, "format": "yaml"}
    )
    assert check.status_code == 200, check.text
    assert check.json()["valid"] is False
    assert check.json()["errors"][0]["path"] == "description"
    listing = await developer.get("/api/definitions")
    assert listing.status_code == 200, listing.text


# -- deep nesting and many values -----------------------------------------------------------------


async def test_json_nested_past_the_limit_is_refused_without_a_traceback(
    rabbit_system: System, caplog: pytest.LogCaptureFixture
) -> None:
    at_limit = {"name": "x", "stages": [{"name": "a", "handler": "h", "input": deep(60)}]}
    response = await rabbit_system.client.post("/pipelines", json=at_limit)
    assert response.status_code == 201, response.text
    for levels in (MAX_JSON_DEPTH + 1, 1_000, 100_000):
        body = b'{"name": "x", "stages": [{"name": "a", "handler": "h", "input": '
        body += nested_text(levels) + b"}]}"
        response = await rabbit_system.client.post(
            "/pipelines", content=body, headers={"content-type": "application/json"}
        )
        assert_problem(response, 422, "too_deep")
    assert await _count(rabbit_system, "pipelines") == 1
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


async def test_brackets_inside_strings_do_not_count_as_nesting(rabbit_system: System) -> None:
    text = "[{" * 5_000 + '\\"[' * 100
    pipeline = {"name": "x", "stages": [{"name": "a", "handler": "h", "input": {"t": text}}]}
    response = await rabbit_system.client.post("/pipelines", json=pipeline)
    assert response.status_code == 201, response.text
    assert response.json()["stages"][0]["input"]["t"] == text
    # As structure, the same brackets are too deep.
    nested = {"name": "x", "stages": [{"name": "a", "handler": "h", "input": deep(65)}]}
    assert_problem(await rabbit_system.client.post("/pipelines", json=nested), 422, "too_deep")


async def test_a_body_of_too_many_values_is_refused(rabbit_system: System) -> None:
    many = {"name": "x", "stages": [{"name": "a", "handler": "h", "input": [0] * MAX_JSON_VALUES}]}
    response = await rabbit_system.client.post("/pipelines", json=many)
    assert_problem(response, 413, "too_many_values")
    assert await _count(rabbit_system, "pipelines") == 0


async def test_deep_yaml_is_refused_without_a_traceback(
    rabbit_system: System, developer: Dashboard, caplog: pytest.LogCaptureFixture
) -> None:
    for levels in (MAX_JSON_DEPTH + 1, 400, 5_000):
        document = (
            "apiVersion: pipelogiq/v1\nkind: PipelineDefinition\nname: deep\n"
            "stages:\n  - name: a\n    handler: h\n    input: " + "[" * levels + "]" * levels + "\n"
        )
        response = await rabbit_system.client.put(
            "/definitions/deep", content=document, headers={"content-type": "application/yaml"}
        )
        body = assert_problem(response, 422, "invalid_definition_file")
        assert "deep" in body["detail"] or "nesting" in body["detail"]
        check = await developer.send(
            "POST", "/api/definitions/check", {"content": document, "format": "yaml"}
        )
        assert check.status_code == 200
        assert check.json()["valid"] is False
    assert "Traceback" not in caplog.text
    assert not [r for r in caplog.records if r.exc_info]


# -- other inputs that answered 500 ---------------------------------------------------------------


async def test_a_definition_that_is_not_utf8_is_refused(rabbit_system: System) -> None:
    response = await rabbit_system.client.put(
        "/definitions/x", content=b"name: \xff\xfe", headers={"content-type": "application/yaml"}
    )
    body = assert_problem(response, 422, "invalid_definition_file")
    assert "UTF-8" in body["detail"]


@pytest.fixture
async def admin(rabbit_system: System) -> Dashboard:
    return await member_of(rabbit_system, "root@example.com", "admin")


@pytest.mark.parametrize("value", [10**30, 2**63, 2**31, -1])
async def test_integers_past_an_integer_column_are_refused(
    rabbit_system: System, admin: Dashboard, value: int
) -> None:
    response = await rabbit_system.client.get(f"/definitions/x?version={value}")
    assert_problem(response, 422, "invalid_request")
    some = "00000000-0000-4000-8000-000000000000"
    for path in (
        f"/api/definitions/{some}/versions/{value}",
        f"/api/pipelines/{some}/stages/{some}/logs?attempt={value}",
    ):
        response = await admin.get(path)
        assert response.status_code in (400, 422), (path, response.text)
    submit = {"definition": "x", "version": value}
    response = await rabbit_system.client.post("/pipelines", json=submit)
    assert response.status_code in (400, 422), response.text


@pytest.mark.parametrize("value", [10**30, 2**63, 2**63 - 1, 2**53])
async def test_ids_past_a_bigint_column_are_refused(admin: Dashboard, value: int) -> None:
    some = "00000000-0000-4000-8000-000000000000"
    for path in ("/api/audit", f"/api/workers/{some}/events"):
        response = await admin.get(f"{path}?before={value}")
        assert_problem(response, 422, "invalid_request")
    assert (await admin.get(f"/api/audit?before={2**53 - 1}")).status_code == 200


async def test_a_download_link_with_a_signature_that_is_not_ascii_is_refused(
    rabbit_system: System,
) -> None:
    app = create_internal_app(services_for(rabbit_system.pool, rabbit_system.services.broker))
    client = browser(app)
    artifact = "00000000-0000-4000-8000-000000000000"
    response = await client.get(
        f"/api/downloads/{artifact}", params={"expires": "1", "signature": "é"}
    )
    assert_problem(response, 403, "invalid_link")


@pytest.mark.parametrize("sid", [123, True, 1.5, ["x"], {"a": 1}])
async def test_a_token_whose_session_is_not_text_is_refused(
    rabbit_system: System, sid: Any
) -> None:
    app = create_internal_app(services_for(rabbit_system.pool, rabbit_system.services.broker))
    client = browser(app)
    claims = {"sub": "x", "sid": sid, "exp": int(time.time()) + 60}
    client.cookies.set("plq_access", jwt.encode(claims, TEST_JWT_SECRET, algorithm="HS256"))
    assert_problem(await client.get("/api/auth/me"), 401, "not_authenticated")


@pytest.mark.parametrize("content", [b"", b"# only a comment\n", b"---\n"])
async def test_an_empty_definition_file_is_refused(rabbit_system: System, content: bytes) -> None:
    response = await rabbit_system.client.put(
        "/definitions/x", content=content, headers={"content-type": "application/yaml"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] in ("invalid_definition_file", "invalid_definition")


@pytest.mark.parametrize("path", ["/pipelines", "/jobs/pull", "/jobs/ack", "/workers/bootstrap"])
async def test_an_empty_body_is_said_to_be_empty(rabbit_system: System, path: str) -> None:
    answer = await rabbit_system.client.post(
        path, content=b"", headers={"content-type": "application/json"}
    )
    body = assert_problem(answer, 422, "invalid_request")
    assert body["detail"] == "the body is empty: this operation takes a JSON body"


async def test_json_bodies_are_read_strictly(rabbit_system: System) -> None:
    # A number in a string, or 0 for false, is not what the document says: refused.
    pull = {"handlers": ["h"], "maxJobs": "5"}
    body = assert_problem(
        await rabbit_system.client.post("/jobs/pull", json=pull), 422, "invalid_request"
    )
    assert body["errors"][0]["key"] == "maxJobs"
    result = {
        "jobId": "00000000-0000-4000-8000-000000000000",
        "status": "failed",
        "error": {"message": "m", "retryable": 0},
    }
    answer = await rabbit_system.client.post("/jobs/ack", json={"results": [result]})
    assert_problem(answer, 422, "invalid_request")


async def test_a_method_an_operation_does_not_take_is_answered_405_with_allow(
    rabbit_system: System,
) -> None:
    for method in ("TRACE", "PATCH", "DELETE"):
        response = await rabbit_system.client.request(method, "/jobs/pull")
        body = assert_problem(response, 405, "method_not_allowed")
        assert "POST" in response.headers["allow"].split(", "), body


@pytest.mark.parametrize(
    "value", ["{null: 1}", "{true: 1}", "0x" + "f" * 5_000, "9" * 4_400], ids=str.__len__
)
async def test_yaml_that_is_no_json_data_is_refused(rabbit_system: System, value: str) -> None:
    document = (
        "apiVersion: pipelogiq/v1\nkind: PipelineDefinition\nname: y\n"
        f"stages:\n  - name: a\n    handler: echo\n    input: {value}\n"
    )
    response = await rabbit_system.client.put(
        "/definitions/y", content=document, headers={"content-type": "application/yaml"}
    )
    assert_problem(response, 422, "invalid_definition_file")


async def test_times_past_what_the_database_holds_are_refused(admin: Dashboard) -> None:
    for query in (
        "/api/pipelines?createdFrom=0001-01-01T00:00:00%2B23:59",
        "/api/pipelines?finishedTo=9999-12-31T23:59:59-23:59",
        "/api/insights?from=9999-12-31T23:00:00-23:59&to=9999-12-31T23:59:59-23:59",
        "/api/insights?to=0001-01-01T00:30:00%2B00:00",
    ):
        response = await admin.get(query)
        assert response.status_code == 422, (query, response.text)
    # The last half hour the database holds is a range like any other (read by the minute).
    last = await admin.get("/api/insights?from=9999-12-31T23:30:00Z&to=9999-12-31T23:59:59Z")
    assert last.status_code == 200, last.text


async def test_a_key_s_expiry_needs_its_time_zone(rabbit_system: System, admin: Dashboard) -> None:
    path = f"/api/applications/{rabbit_system.application.id}/keys"
    for expiry in ("2030-01-01T00:00:00", "9999-12-31T23:59:59-01:00"):
        response = await admin.send("POST", path, {"name": "k", "expiresAt": expiry})
        assert response.status_code == 422, (expiry, response.text)


async def test_a_result_too_large_to_hand_on_is_refused_alone(rabbit_system: System) -> None:
    # Every dependent job carries its dependencies' outputs: an output is held to the limit
    # of an input (1 MiB by default).
    system = rabbit_system
    for _ in range(3):
        await system.submit([{"name": "a", "handler": "big"}])
    jobs = [job["jobId"] for job in await system.pull_until("big", 3)]
    huge = "x" * 1_100_000
    answer = await system.ack(
        {"jobId": jobs[0], "status": "completed", "output": huge},
        {"jobId": jobs[1], "status": "completed", "context": {"a": huge}},
        {"jobId": jobs[2], "status": "completed", "output": "small"},
    )
    assert answer["accepted"] == [jobs[2]]
    codes = {item["jobId"]: item["code"] for item in answer["rejected"]}
    assert codes == {jobs[0]: "output_too_large", jobs[1]: "context_too_large"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/workers/bootstrap", {"workerName": "w", "metadata": {"a": "x" * 70_000}}),
        (
            "/workers/heartbeat",
            {"workerId": "00000000-0000-4000-8000-000000000000", "metrics": {"a": "x" * 70_000}},
        ),
    ],
    ids=["metadata", "metrics"],
)
async def test_a_worker_s_report_is_kept_small(
    rabbit_system: System, path: str, body: dict[str, Any]
) -> None:
    response = await rabbit_system.client.post(path, json=body)
    assert_problem(response, 422, "report_too_large")
    assert await _count(rabbit_system, "workers") == 0


async def test_a_search_is_text_not_a_pattern(rabbit_system: System, admin: Dashboard) -> None:
    for name in ("100%_done", "other"):
        await rabbit_system.submit([{"name": "a", "handler": "h"}], name=name)
    for search, found in (("_", ["100%_done"]), ("%", ["100%_done"]), ("other", ["other"])):
        response = await admin.get(f"/api/pipelines?search={quote(search)}")
        assert [p["name"] for p in response.json()["items"]] == found, search


@pytest.mark.parametrize(
    "name", ["..", ".", "x\u202eexe.pdf", "x\u200eexe.pdf", "a\u0085b", "a\u2028b"]
)
async def test_an_artifact_name_that_could_mislead_is_refused(
    rabbit_system: System, name: str
) -> None:
    some_job = "00000000-0000-4000-8000-000000000000"
    response = await rabbit_system.client.post(
        f"/jobs/{some_job}/artifacts", params={"name": name}, content=b"x"
    )
    assert_problem(response, 422, "invalid_request")


@pytest.mark.parametrize("mark", ["\u202e", "\u2066", "\u0085", "\u2028", "\t", "\x1b"])
async def test_a_name_people_read_refuses_marks_that_could_mislead(
    rabbit_system: System, admin: Dashboard, mark: str
) -> None:
    # "invoice\u202efdp.exe" shows as "invoiceexe.pdf"; an escape can repaint a terminal.
    name = f"invoice{mark}fdp.exe"
    submit = {"name": name, "stages": [{"name": "a", "handler": "h"}]}
    answers = [
        await rabbit_system.client.post("/pipelines", json=submit),
        await rabbit_system.client.post(
            "/pipelines", json={"stages": [{"name": name, "handler": "h"}]}
        ),
        await admin.send(
            "POST",
            "/api/users",
            {"email": "eve@example.com", "name": name, "role": "operator", "password": "x" * 12},
        ),
    ]
    for answer in answers:
        body = assert_problem(answer, 422, "invalid_request")
        assert body["errors"][0]["key"] in ("name", "stages[0].name"), body
        # Said in words, not as the regex it did not match.
        assert body["detail"] == "No control characters, line separators or bidirectional marks."
    assert await rabbit_system.pool.fetchval("SELECT count(*) FROM pipelines") == 0
    plain = await rabbit_system.client.post("/pipelines", json={**submit, "name": "invoice.pdf"})
    assert plain.status_code == 201, plain.text


async def test_a_file_of_many_problems_answers_the_first_hundred(rabbit_system: System) -> None:
    stages = "".join(f"  - name: s{n}\n    handler: h\n    dependsOn: [nope]\n" for n in range(500))
    document = f"apiVersion: pipelogiq/v1\nkind: PipelineDefinition\nname: many\nstages:\n{stages}"
    response = await rabbit_system.client.put(
        "/definitions/many", content=document, headers={"content-type": "application/yaml"}
    )
    body = assert_problem(response, 422, "invalid_definition")
    assert len(body["errors"]) == 100
    assert body["detail"].startswith("500 problems; the first 100:")


def test_empty_containers_are_no_values() -> None:
    check_json_shape(msgspec.json.encode([{} for _ in range(60_000)]))  # 60,001 values
    with pytest.raises(TooLarge):
        check_json_shape(msgspec.json.encode([[0] for _ in range(60_000)]))  # 120,001
