"""The OpenAPI documents as a contract, checked by a fuzzer: schemathesis sends requests built
from both documents to a real `pipelogiq api` and `pipelogiq worker` (on the real PostgreSQL
and RabbitMQ), authenticated, and every answer must be no server error, a documented status,
of the documented content type, and valid against the documented schema.

`just test` runs a few examples per operation (PIPELOGIQ_FUZZ_EXAMPLES, 5 by default);
`just fuzz` runs many more. The figures of the last long run are in docs/security.md.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.conftest import ADMIN_DSN, AMQP_URL, dsn_for, unique_prefix
from tests.processes import (
    create_app,
    delete_application_queues,
    environment,
    process,
    run,
    wait_ready,
)

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("PIPELOGIQ_FUZZ_EXAMPLES", "5"))
PASSWORD = "fuzzing the api 12345"

# The contract: no server error, only documented statuses, content types, headers and bodies,
# and a 405 with Allow for any method an operation does not take. (Whether the API accepts
# every schema-valid request is not asked: a rule of an operation — a stage that depends on a
# stage that does not exist, say — is answered 4xx with a code, as documented.)
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "unsupported_method",
]


@dataclass(frozen=True)
class Running:
    external: str
    internal: str
    key: str
    session: dict[str, str]


def _database(action: str, name: str) -> None:
    async def act() -> None:
        admin = await asyncpg.connect(ADMIN_DSN)
        try:
            await admin.execute(
                f'{action} DATABASE "{name}"' + (" WITH (FORCE)" if action == "DROP" else "")
            )
        finally:
            await admin.close()

    asyncio.run(act())


@pytest.fixture(scope="module")
def running() -> Iterator[Running]:
    name = f"pipelogiq_fuzz_{uuid.uuid4().hex[:10]}"
    _database("CREATE", name)
    prefix = unique_prefix()
    env = environment(
        DATABASE_URL=dsn_for(name),
        AMQP_URL=AMQP_URL,
        PIPELOGIQ_AMQP_PREFIX=prefix,
        # The fuzzer sends as fast as it can: its own limits are not what is tested here.
        PIPELOGIQ_RATE_PER_KEY="0",
        PIPELOGIQ_RATE_PER_USER="0",
        PIPELOGIQ_RATE_PER_CLIENT="0",
    )
    try:
        key = create_app(env)
        made = run("create-admin", "--email", "fuzz@example.com", "--password", PASSWORD, env=env)
        assert made.returncode == 0, made.stderr
        external = f"http://127.0.0.1:{env['PIPELOGIQ_EXTERNAL_PORT']}"
        internal = f"http://127.0.0.1:{env['PIPELOGIQ_INTERNAL_PORT']}"
        with process("api", env=env) as api, process("worker", env=env) as worker:
            wait_ready(f"{external}/readyz", api)
            wait_ready(f"http://127.0.0.1:{env['PIPELOGIQ_METRICS_PORT']}/readyz", worker)
            login = httpx.post(
                f"{internal}/api/auth/login",
                json={"email": "fuzz@example.com", "password": PASSWORD},
            )
            assert login.status_code == 200, login.text
            # Not the refresh cookie: the fuzzer's refreshes would rotate it, and the next one
            # with the old token would end the session (as a copied token must).
            cookies = "; ".join(f"{k}={v}" for k, v in login.cookies.items() if k != "plq_refresh")
            session = {"Cookie": cookies, "X-CSRF-Token": login.cookies["plq_csrf"]}
            yield Running(external, internal, key, session)
        handlers = ["0", "A", "a"]
        delete_application_queues(dsn_for(name), AMQP_URL, prefix, handlers)
    finally:
        _database("DROP", name)


def fuzz(document: str, headers: dict[str, str], *exclude: str) -> tuple[str, int]:
    """Run schemathesis over ``document``; its report, and how many cases it generated."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "run",
        document,
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(EXAMPLES),
        # NUL is refused in all text (422 nul_character, as documented): generating it would
        # only test that refusal, over and over.
        "--generation-allow-x00",
        "false",
        "--no-color",
        "--request-timeout",
        "30",
        *(f"--header={name}: {value}" for name, value in headers.items()),
        *(f"--exclude-path={path}" for path in exclude),
    ]
    # The same cases each `just test`, so that a red run can be run again; `just fuzz` draws new
    # ones (PIPELOGIQ_FUZZ_RANDOM), or again those of a seed it printed (PIPELOGIQ_FUZZ_SEED).
    seed = os.environ.get("PIPELOGIQ_FUZZ_SEED")
    if seed is None and not os.environ.get("PIPELOGIQ_FUZZ_RANDOM"):
        seed = "20261203"
    if seed is not None:
        command += ["--seed", seed]
    root = str(Path(__file__).parent.parent)
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "PYTHONPATH": root}
    # Schemathesis keeps a cache of what failed in its working directory: not in the checkout.
    with tempfile.TemporaryDirectory() as scratch:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=3600, env=env, cwd=scratch
        )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report
    generated = re.search(r"(\d+) generated", report)
    assert generated is not None, report
    print(report[report.find("SUMMARY") :])  # the figures, for `just fuzz`
    return report, int(generated.group(1))


def test_the_external_api_keeps_its_document(running: Running) -> None:
    report, cases = fuzz(f"{running.external}/schema/openapi.json", {"X-API-Key": running.key})
    assert cases >= 20 * EXAMPLES, report  # every operation was tried


def test_the_internal_api_keeps_its_document(running: Running) -> None:
    # Logging out would end the fuzzer's session for every later request.
    report, cases = fuzz(
        f"{running.internal}/schema/openapi.json", running.session, "/api/auth/logout"
    )
    assert cases >= 50 * EXAMPLES, report
