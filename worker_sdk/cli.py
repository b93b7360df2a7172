"""``pipelogiq-worker module:attribute``: run a Worker object defined in your code.

``pipelogiq-worker --templates core,dataset`` runs a worker serving stage templates, on its
own or beside the handlers of a ``module:attribute`` worker. Without one, the worker connects
to ``PIPELOGIQ_URL`` (default http://127.0.0.1:8081) with ``PIPELOGIQ_API_KEY``.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys

from worker_sdk.errors import ApiError
from worker_sdk.logs import configure_logging, log_format
from worker_sdk.worker import Worker


def load_worker(target: str) -> Worker:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise SystemExit(f"pipelogiq-worker: expected module:attribute, got {target!r}")
    sys.path.insert(0, os.getcwd())  # as `python -m` would, so local modules are found
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise SystemExit(f"pipelogiq-worker: cannot import {module_name!r}: {error}") from error
    worker = getattr(module, attribute, None)
    if not isinstance(worker, Worker):
        raise SystemExit(
            f"pipelogiq-worker: {target!r} is {type(worker).__name__}, not a worker_sdk.Worker"
        )
    return worker


def _templates_worker(name: str) -> Worker:
    key = os.environ.get("PIPELOGIQ_API_KEY")
    if not key:
        raise SystemExit("pipelogiq-worker: set PIPELOGIQ_API_KEY (from `pipelogiq create-app`)")
    return Worker(os.environ.get("PIPELOGIQ_URL", "http://127.0.0.1:8081"), key, name=name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pipelogiq-worker", description="Run a Pipelogiq worker until SIGINT or SIGTERM."
    )
    parser.add_argument("target", nargs="?", help="where the Worker object is, as module:attribute")
    parser.add_argument(
        "--templates",
        help="serve these stage templates too: groups or name patterns, comma-separated",
    )
    parser.add_argument("--name", default="templates", help="the worker's name, without a target")
    parser.add_argument("--log-level", default=os.environ.get("PIPELOGIQ_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    level = logging.getLevelName(args.log_level.upper())
    if not isinstance(level, int):
        raise SystemExit(f"pipelogiq-worker: unknown log level {args.log_level!r}")
    try:
        fmt = log_format(os.environ.get("PIPELOGIQ_LOG_FORMAT"))
    except ValueError:
        raise SystemExit("pipelogiq-worker: PIPELOGIQ_LOG_FORMAT must be text or json") from None
    configure_logging(level, fmt)
    if level > logging.DEBUG:
        # httpx tells of every request at INFO, a line per long poll: only worth it when debugging.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    if args.target:
        worker = load_worker(args.target)
    elif args.templates:
        worker = _templates_worker(args.name)
    else:
        parser.error("give a module:attribute worker, --templates, or both")
    if args.templates:
        try:
            served = worker.use_templates(*args.templates.split(","))
        except (LookupError, ValueError) as error:
            raise SystemExit(f"pipelogiq-worker: {error}") from error
        logging.getLogger("worker_sdk").info("serving templates: %s", ", ".join(served))
    if port := os.environ.get("PIPELOGIQ_WORKER_METRICS_PORT"):
        worker.metrics_port = _metrics_port(port)
    try:
        worker.run()
    except ApiError as error:  # at registration: no retry can fix it
        raise SystemExit(_refused(worker.url, error)) from None
    return 0


def _refused(url: str, error: ApiError) -> str:
    if error.status == 401:
        return (
            f"pipelogiq-worker: {url} refused the API key ({error.detail}): use a key of the "
            "application, from `pipelogiq create-app NAME` or the dashboard's Applications "
            "and keys page (PIPELOGIQ_API_KEY for --templates)"
        )
    return f"pipelogiq-worker: {url} refused the worker: {error}"


def _metrics_port(raw: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise SystemExit(f"pipelogiq-worker: PIPELOGIQ_WORKER_METRICS_PORT={raw!r} is not a port")
    if importlib.util.find_spec("prometheus_client") is None:
        raise SystemExit(
            "pipelogiq-worker: metrics need prometheus-client, the SDK's metrics extra "
            "(pipelogiq-sdk[metrics]): pip install prometheus-client"
        )
    return int(raw)


if __name__ == "__main__":
    sys.exit(main())
