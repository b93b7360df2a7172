"""Prometheus metrics of the job path.

Counted where the transition commits, so a number here is a number of state changes, not of
attempts. The APIs serve them on ``/metrics``; the built-in worker on its metrics port.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info, disable_created_metrics

# Each counter would also export a `_created` timestamp series; nothing here reads them, and
# they double what is scraped.
disable_created_metrics()

_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)
_DURATION_BUCKETS = (0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)

BUILD = Info("pipelogiq_build", "The running version of Pipelogiq.")
PIPELINES_SUBMITTED = Counter("pipelogiq_pipelines_submitted", "Pipelines created.")
JOBS_PUBLISHED = Counter("pipelogiq_jobs_published", "Job references confirmed by the broker.")
JOBS_PULLED = Counter("pipelogiq_jobs_pulled", "Jobs claimed by workers.")
JOBS_ACKED = Counter(
    "pipelogiq_jobs_acked", "Job results accepted, by the stage status they led to.", ["status"]
)
ACKS_REJECTED = Counter("pipelogiq_acks_rejected", "Job results rejected, by reason.", ["reason"])
JOBS_RETRIED = Counter("pipelogiq_jobs_retried", "Stages queued again after a failure.")
JOBS_FAILED = Counter("pipelogiq_jobs_failed", "Stages that failed for good, by cause.", ["cause"])
LEASE_EXPIRIES = Counter("pipelogiq_lease_expiries", "Jobs whose worker stopped heartbeating.")
JOB_TIMEOUTS = Counter("pipelogiq_job_timeouts", "Jobs that ran past their timeout.")
STAGES_ADVANCED = Counter("pipelogiq_stages_advanced", "Finished stages whose effects applied.")
RELAY_REPUBLISHED = Counter(
    "pipelogiq_relay_republished", "Queued stages the relay published after a lost publish."
)
SCHEDULE_FIRES = Counter(
    "pipelogiq_schedule_fires",
    "Schedule fires, by kind: scheduled, catch_up, skipped (missed, not run), failed (no run).",
    ["kind"],
)
RETENTION_DELETED = Counter(
    "pipelogiq_retention_deleted",
    "What retention deleted, by kind: pipelines, stage_logs, workers, audit, files, partitions...",
    ["kind"],
)
DISPATCH_LATENCY = Histogram(
    "pipelogiq_dispatch_latency_seconds",
    "From a stage being queued to a worker claiming it.",
    buckets=_LATENCY_BUCKETS,
)
STAGE_DURATION = Histogram(
    "pipelogiq_stage_duration_seconds",
    "From a job being claimed to its result being accepted.",
    buckets=_DURATION_BUCKETS,
)
QUEUE_DEPTH = Gauge("pipelogiq_queue_depth", "Messages waiting in a job queue.", ["queue"])
WORKERS_ONLINE = Gauge("pipelogiq_workers_online", "Workers with a recent heartbeat.")
ALERTS_FIRING = Gauge(
    "pipelogiq_alerts_firing", "Alerts open (firing or acknowledged), by rule name.", ["rule"]
)
ALERT_TRANSITIONS = Counter(
    "pipelogiq_alert_transitions", "Alerts opened, acknowledged and resolved.", ["transition"]
)
ALERT_DELIVERIES = Counter(
    "pipelogiq_alert_deliveries",
    "Tries to send alert notifications, by channel type and outcome (delivered, retried, "
    "failed: given up, digest: a digest sent in place of several).",
    ["channel_type", "outcome"],
)
