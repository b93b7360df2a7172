# Pipelogiq developer commands. `just --list` shows them all, each with the line right above
# it (or its [doc] attribute).

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
bin := venv / "bin"

# Show the recipes.
default:
    @just --list

# Once, and again whenever pyproject.toml changes.
[doc("Create .venv and install Pipelogiq with its server and development extras.")]
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x {{bin}}/python ]; then python3 -m venv {{venv}}; fi
    if [ ! -f {{venv}}/.installed ] || [ pyproject.toml -nt {{venv}}/.installed ]; then
        {{bin}}/python -m pip install --quiet --upgrade pip
        {{bin}}/python -m pip install --quiet -e '.[dev]'
        touch {{venv}}/.installed
    fi

# Both APIs, the built-in worker, the embedded PostgreSQL and the in-process broker (set
# DATABASE_URL / AMQP_URL to use real servers). The dashboard is built first when its sources
# changed, and served at http://127.0.0.1:8080.
[doc("Start everything in one process (pipelogiq dev), with the dashboard.")]
run: setup dashboard
    {{bin}}/pipelogiq dev

# Install the dashboard's npm packages (once, and again when its lock file changes).
dashboard-setup:
    #!/usr/bin/env bash
    set -euo pipefail
    cd dashboard
    if [ ! -f node_modules/.installed ] || [ package-lock.json -nt node_modules/.installed ]; then
        # `npm install`, not `npm ci`: the lock file lacks the native packages of platforms a
        # registry mirror may not carry (Tailwind's oxide for Android, say), and `npm ci`
        # refuses such a lock file; `npm install` follows it and skips them.
        npm install --no-audit --no-fund --loglevel=error
        touch node_modules/.installed
    fi

# Build the dashboard into dashboard/dist, when anything it is built from changed.
dashboard:
    #!/usr/bin/env bash
    set -euo pipefail
    if ! command -v npm > /dev/null; then
        echo "npm was not found: the dashboard is not built (the APIs work without it)" >&2
        exit 0
    fi
    "{{just_executable()}}" dashboard-setup
    cd dashboard
    sources="src index.html package-lock.json vite.config.ts tsconfig.json"
    if [ ! -f dist/index.html ] || [ -n "$(find $sources -newer dist/index.html -print -quit)" ]; then
        npm run --silent build
    fi

# Write database/schema.sql again from the migrations (a test fails while it is stale).
[doc("Regenerate database/schema.sql, the whole schema as the migrations leave it.")]
schema: setup
    {{bin}}/python -m database.schema "${PIPELOGIQ_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/postgres}"

# Vite's dev server on http://127.0.0.1:5173, in front of a running `just run`.
dashboard-dev: dashboard-setup
    cd dashboard && npm run dev

# Regenerate the dashboard's typed API client from the internal API's OpenAPI document.
dashboard-types: setup dashboard-setup
    {{bin}}/python -m controlplane.api.openapi > dashboard/src/api/openapi.json
    cd dashboard && npm run --silent types

# Describe the SDK's templates again in worker_sdk/templates/catalog.json (a test: not stale).
template-catalog: setup
    {{bin}}/python -m worker_sdk.templates.catalog

# Create an application and print its API key (works while `just run` is running).
create-app name: setup
    {{bin}}/pipelogiq create-app {{name}}

# The tests use the local PostgreSQL and RabbitMQ (see PIPELOGIQ_TEST_DATABASE_URL /
# PIPELOGIQ_TEST_AMQP_URL in the README). ARGS go to pytest.
[doc("What CI checks: lint, formats, types, the dashboard's checks and tests, then pytest.")]
test *args: setup dashboard
    {{bin}}/ruff check .
    {{bin}}/ruff format --check .
    {{bin}}/mypy --strict worker_sdk
    cd dashboard && npm run --silent format:check && npm run --silent typecheck && npm test --silent
    cd dashboard && npx openapi-typescript src/api/openapi.json -o /tmp/plq-schema.d.ts --silent \
        && diff -q src/api/schema.d.ts /tmp/plq-schema.d.ts \
        || (echo "dashboard/src/api/schema.d.ts is stale: run just dashboard-types" && exit 1)
    {{bin}}/pytest {{args}}

# Build the distributions into dist/: pipelogiq and pipelogiq-sdk, each an sdist and a wheel.
build: setup
    rm -rf dist
    {{bin}}/python -m build --outdir dist .
    {{bin}}/python -m build --outdir dist worker_sdk

# Only pytest, with its arguments, for a quick run: just pytest tests/test_dag.py -k retry
pytest *args: setup
    {{bin}}/pytest {{args}}

# Schemathesis sends EXAMPLES requests per operation (just test sends 5), from both OpenAPI
# documents, to a real `pipelogiq api` and `worker`, with a new seed each run.
[doc("Fuzz both APIs from their OpenAPI documents: no server error, no undocumented status.")]
fuzz examples="100": setup
    PIPELOGIQ_FUZZ_EXAMPLES={{examples}} PIPELOGIQ_FUZZ_RANDOM=1 {{bin}}/pytest -q -s tests/test_fuzz.py

# Format the code.
fmt: setup dashboard-setup
    {{bin}}/ruff format .
    {{bin}}/ruff check --fix .
    cd dashboard && npm run --silent format

# Run the browser test and keep its screenshots in docs/screenshots.
screenshots: setup dashboard
    PIPELOGIQ_SCREENSHOTS=docs/screenshots {{bin}}/pytest -q tests/test_dashboard_e2e.py

# Throughput and latency through the real RabbitMQ and PostgreSQL, then the embedded mode;
# what a job costs while many long polls wait; the overview's reads with a million finished
# stages (just bench-insights alone); searching ten million log lines (just bench-logs alone);
# then the dataset templates on Ray beside plain pyarrow (just bench-data alone).
[doc("The benchmarks: the job path, long polls, the overview's reads, log search, datasets.")]
bench *args: setup
    {{bin}}/python -m tests.bench {{args}}
    {{bin}}/python -m tests.bench_polls
    {{bin}}/python -m tests.bench_insights
    {{bin}}/python -m tests.bench_logs
    {{bin}}/python -m tests.bench_dataset

# The overview's reads with a million finished stages, from the rollups and from every attempt.
bench-insights stages="1000000": setup
    {{bin}}/python -m tests.bench_insights --stages {{stages}}

# Searching the stage logs (GET /api/logs) over ten million lines, as an admin and a member.
bench-logs lines="10000000": setup
    {{bin}}/python -m tests.bench_logs --lines {{lines}}

# The dataset templates on Ray beside plain pyarrow, on a generated orders CSV.
bench-data rows="5000000": setup
    {{bin}}/python -m tests.bench_dataset --rows {{rows}}
