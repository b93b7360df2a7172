"""The dataset templates (bronze → silver → gold) on Ray, Arrow and Lance.

``pip install 'pipelogiq[data]'``, then ``worker.use_templates("dataset")`` or
``pipelogiq-worker --templates dataset``. Each template reads the datasets its dependencies
wrote (see :mod:`.refs`), does its work as Ray tasks over the datasets' fragments, and writes a
new Lance dataset version that it commits once, when every task has finished.
"""

import os
import warnings

# Lance logs a warning for every fragment written to a dataset that does not exist yet,
# which is how every parallel write starts; and warns at every fork, which Ray does only to
# exec its own processes.
os.environ.setdefault("LANCE_LOG", "error")
warnings.filterwarnings("ignore", message="lance is not fork-safe")

from worker_sdk.templates.dataset import (  # noqa: E402
    aggregate,
    clean,
    export,
    ingest,
    join,
    profile,
    quality,
    release,
    sample,
    sql,
)

__all__ = [
    "aggregate",
    "clean",
    "export",
    "ingest",
    "join",
    "profile",
    "quality",
    "release",
    "sample",
    "sql",
]
