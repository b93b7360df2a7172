"""The built-in worker: result consumer, relay, watchdog sweeps and queue metrics.

Any number may run against one database and broker; every loop is safe to run concurrently.
"""

from builtin_worker.runner import BuiltinWorker

__all__ = ["BuiltinWorker"]
