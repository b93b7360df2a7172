"""Brokers carry dispatch only: job references, stage-finished events and live updates.

The truth is always in PostgreSQL, so every message here may be lost, duplicated or stale
without harm; the engine's guarded statements drop what no longer applies.
"""

from controlplane.broker.base import Broker, BrokerUnavailable, JobRef, ResultBatch, TakenJobs

__all__ = ["Broker", "BrokerUnavailable", "JobRef", "ResultBatch", "TakenJobs"]
