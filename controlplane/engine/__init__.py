"""The engine: every state change, each one guarded SQL statement, and the reads behind the
dashboard. It knows nothing of HTTP, and publishes nothing itself: a change returns an
:class:`~controlplane.engine.outcome.Outcome`, which :mod:`controlplane.effects` applies
after the commit.

Districts:

- ``jobpath/``: pipelines (submit, cancel), jobs (pull, ack, logs), advance, the watchdog's
  sweeps, operators' reruns and skips, workers, policies and the gates they put on claims,
  approvals, artifacts;
- ``definitions/``: versioned pipeline definitions, their file format, schedules, and the
  templates workers serve;
- ``access/``: users and sessions, applications and their keys, the audit log;
- ``reads/``: what the dashboard shows (pipeline and worker lists, attempts, lineage, why a
  stage waits, insights);
- ``upkeep/``: retention and planner statistics.

Imports flow one way: the APIs and the built-in worker call the engine; the engine uses the
database pool and the broker port.
"""
