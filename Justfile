# Pipelogiq developer commands. `just --list` shows them all.

set shell := ["bash", "-euo", "pipefail", "-c"]

venv := ".venv"
bin := venv / "bin"

# Show the recipes.
default:
    @just --list

# Create .venv and install Pipelogiq with its server and development extras (once, and again
# whenever pyproject.toml changes).
setup:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x {{bin}}/python ]; then python3 -m venv {{venv}}; fi
    if [ ! -f {{venv}}/.installed ] || [ pyproject.toml -nt {{venv}}/.installed ]; then
        {{bin}}/python -m pip install --quiet --upgrade pip
        {{bin}}/python -m pip install --quiet -e '.[dev]'
        touch {{venv}}/.installed
    fi

# Start everything in one process: both APIs, the built-in worker, the embedded PostgreSQL
# and the in-process broker (set DATABASE_URL / AMQP_URL to use real servers).
run: setup
    {{bin}}/pipelogiq dev

# Create an application and print its API key (works while `just run` is running).
create-app name: setup
    {{bin}}/pipelogiq create-app {{name}}

# Lint, check formatting, type-check the SDK, and run the whole test suite against the local PostgreSQL and
# RabbitMQ (see PIPELOGIQ_TEST_DATABASE_URL / PIPELOGIQ_TEST_AMQP_URL in the README).
test *args: setup
    {{bin}}/ruff check .
    {{bin}}/ruff format --check .
    {{bin}}/mypy --strict worker_sdk
    {{bin}}/pytest {{args}}

# Format the code.
fmt: setup
    {{bin}}/ruff format .
    {{bin}}/ruff check --fix .

# Throughput and latency through the real RabbitMQ and PostgreSQL, then the embedded mode.
bench *args: setup
    {{bin}}/python -m tests.bench {{args}}
