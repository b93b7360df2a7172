"""``pipelogiq-worker module:attribute``: run a Worker object defined in your code."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pipelogiq-worker", description="Run a Pipelogiq worker until SIGINT or SIGTERM."
    )
    parser.add_argument("target", help="where the Worker object is, as module:attribute")
    parser.add_argument("--log-level", default=os.environ.get("PIPELOGIQ_LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    level = logging.getLevelName(args.log_level.upper())
    if not isinstance(level, int):
        raise SystemExit(f"pipelogiq-worker: unknown log level {args.log_level!r}")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if level > logging.DEBUG:
        # httpx tells of every request at INFO, a line per long poll: only worth it when debugging.
        logging.getLogger("httpx").setLevel(logging.WARNING)
    worker = load_worker(args.target)
    worker.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
