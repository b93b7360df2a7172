"""Everything a process shares between requests and loops, built once at start.

Handlers receive it by dependency injection; nothing in the code base reaches for a global.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass, field

import asyncpg

from controlplane.artifact_store import ArtifactStore, store_for
from controlplane.broker import Broker
from controlplane.effects import Effects
from controlplane.effects.announcements import ResultAnnouncer
from controlplane.effects.dispatch import RECORD_DELAY_SECONDS, Dispatcher
from controlplane.effects.live_updates import UpdatePublisher
from controlplane.effects.traces import TraceExport
from controlplane.engine.access.applications import KeyCache
from controlplane.engine.jobpath.policies import PolicyCache
from controlplane.engine.jobpath.workers import HeartbeatWriter, WorkerOwners
from controlplane.errors import Conflict
from controlplane.outages import Outages
from controlplane.sandbox import Sandbox
from controlplane.sealing import Sealer, key_from
from controlplane.settings import Settings


@dataclass
class Services:
    settings: Settings
    pool: asyncpg.Pool
    broker: Broker
    # What follows each commit: publishes, announcements, live updates, spans.
    effects: Effects = field(init=False)
    keys: KeyCache = field(init=False)
    policies: PolicyCache = field(init=False)
    heartbeats: HeartbeatWriter = field(init=False)
    worker_owners: WorkerOwners = field(init=False)
    artifacts: ArtifactStore = field(init=False)
    # Set once the process has been asked to stop: long polls end, readiness fails.
    stopping: asyncio.Event = field(init=False, default_factory=asyncio.Event)
    # Logs the start and end of each outage of the database or the broker, once.
    outages: Outages = field(init=False)
    # A child process for CPU-heavy work on untrusted input (definition files).
    sandbox: Sandbox = field(init=False, default_factory=Sandbox)

    @functools.cached_property
    def sealer(self) -> Sealer:
        """Seals and opens the passwords of database connections."""
        try:
            return Sealer(key_from(self.settings.connection_key, self.settings.jwt_secret))
        except ValueError as error:
            raise Conflict("no_connection_key", str(error)) from None

    def __post_init__(self) -> None:
        self.outages = Outages(
            {"database": lambda: self.pool.fetchval("SELECT 1"), "broker": self.broker.ping}
        )
        # A lost connection is an outage from the moment it is lost, not from the next
        # failure of something that needs it.
        self.broker.when_lost(lambda error: self.outages.down("broker", error))
        settings = self.settings
        self.effects = Effects(
            Dispatcher(
                self.pool,
                self.broker,
                record_delay=min(RECORD_DELAY_SECONDS, settings.publish_grace_seconds / 4),
                outages=self.outages,
            ),
            ResultAnnouncer(self.broker, outages=self.outages),
            UpdatePublisher(self.broker),
            # Pipelines and jobs as OpenTelemetry spans; None unless an OTLP endpoint is set.
            TraceExport.configured(
                self.pool, settings.otel_traces_endpoint, settings.otel_service_name
            ),
        )
        self.keys = KeyCache(self.pool)
        self.policies = PolicyCache(self.pool)
        self.heartbeats = HeartbeatWriter(self.pool, settings.lease_seconds)
        self.worker_owners = WorkerOwners(self.pool)
        self.artifacts = store_for(
            settings.artifact_store, settings.data_dir, settings.s3_endpoint_url
        )
