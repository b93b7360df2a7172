"""Settings, read once from the environment at start.

A missing or malformed value stops the process with one line that names the variable, so a
typo in a deployment fails at once and not at the first request.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from worker_sdk.logs import LogFormat, log_format

T = TypeVar("T")
EventLoop = Literal["auto", "asyncio", "uvloop"]


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str | None = None
    amqp_url: str | None = None
    data_dir: Path = Path(".pipelogiq")
    # The built dashboard; unset: dashboard/dist of the source checkout.
    dashboard_dir: Path | None = None
    host: str = "127.0.0.1"
    internal_port: int = 8080
    external_port: int = 8081
    metrics_port: int = 9090
    # How long a claimed job stays with its worker without a heartbeat.
    lease_seconds: float = 30.0
    heartbeat_interval_seconds: float = 10.0
    worker_offline_after_seconds: float = 60.0
    # Lease losses a stage may have (its worker vanished) before it fails for good.
    max_lease_expiries: int = 5
    # A queued stage whose publish was not recorded this long after it was queued is
    # published again by the relay.
    publish_grace_seconds: float = 10.0
    sweep_interval_seconds: float = 1.0
    # How long a process waits at start for the database and the broker to answer.
    startup_timeout_seconds: float = 120.0
    # How long a process may take, after SIGTERM, to finish what it is doing before it exits.
    shutdown_timeout_seconds: float = 10.0
    # Days kept before the built-in worker deletes them (0: kept for ever): finished
    # pipelines with all of theirs, stage logs, workers gone quiet with their events, the
    # audit log.
    retain_pipelines_days: int = 30
    retain_logs_days: int = 14
    retain_workers_days: int = 7
    retain_audit_days: int = 365
    max_input_bytes: int = 1_048_576
    # The largest file a job may attach, and how long a download link works.
    max_artifact_bytes: int = 104_857_600
    artifact_link_seconds: int = 300
    # s3://bucket/prefix to keep artifacts in a bucket (unset: under the data dir), and the
    # endpoint of an S3-compatible store that is not AWS.
    artifact_store: str | None = None
    s3_endpoint_url: str | None = None
    amqp_queue_type: Literal["classic", "quorum"] = "classic"
    # Prefixes every queue and exchange name; lets several installations (or test runs)
    # share one RabbitMQ virtual host.
    amqp_prefix: str = ""
    log_level: str = "INFO"
    # json: one JSON object per line, with the pipeline, stage, job and trace ids as fields.
    log_format: LogFormat = "text"
    # uvloop when it is installed (the server extra brings it), else the standard loop.
    event_loop: EventLoop = "auto"
    # A link to a trace in your tracing UI, with {traceId} where its id goes; the dashboard
    # links each pipeline to its trace with it.
    trace_url: str | None = None
    # Where spans of pipelines and jobs go (OTLP over HTTP), from OpenTelemetry's own
    # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT; unset: no export.
    otel_traces_endpoint: str | None = None
    otel_service_name: str = "pipelogiq"
    # Signs the internal API's session tokens. `pipelogiq dev` makes one and keeps it in the
    # data dir; every other process refuses to start without a strong one.
    jwt_secret: str | None = None
    access_token_seconds: int = 900
    session_days: int = 7
    # Mark session cookies Secure even on plain HTTP (behind a TLS-terminating proxy that does
    # not send X-Forwarded-Proto). Requests over HTTPS always get Secure cookies.
    secure_cookies: bool = False
    # Proxies (addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto are
    # believed; from anyone else the peer address is the client's.
    trusted_proxies: tuple[str, ...] = ()
    # Requests per second, and bursts, one API key (external API), one user (internal API)
    # and one client address (either) may send to one API process; 0 turns a limit off.
    rate_per_key: float = 2_000.0
    burst_per_key: int = 4_000
    rate_per_user: float = 100.0
    burst_per_user: int = 400
    rate_per_client: float = 4_000.0
    burst_per_client: int = 8_000
    # Long polls one API key may have waiting at once on one API process.
    max_polls_per_key: int = 512

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        read = _Reader(env)
        return cls(
            database_url=read("DATABASE_URL", _url("postgresql://", "postgres://"), None),
            amqp_url=read("AMQP_URL", _url("amqp://", "amqps://"), None),
            data_dir=read("PIPELOGIQ_DATA_DIR", Path, Path(".pipelogiq")),
            dashboard_dir=read("PIPELOGIQ_DASHBOARD_DIR", Path, None),
            host=read("PIPELOGIQ_HOST", _host, "127.0.0.1"),
            internal_port=read("PIPELOGIQ_INTERNAL_PORT", _port, 8080),
            external_port=read("PIPELOGIQ_EXTERNAL_PORT", _port, 8081),
            metrics_port=read("PIPELOGIQ_METRICS_PORT", _port, 9090),
            lease_seconds=read("PIPELOGIQ_LEASE_SECONDS", _positive(float), 30.0),
            heartbeat_interval_seconds=read(
                "PIPELOGIQ_HEARTBEAT_INTERVAL_SECONDS", _positive(float), 10.0
            ),
            worker_offline_after_seconds=read(
                "PIPELOGIQ_WORKER_OFFLINE_AFTER_SECONDS", _positive(float), 60.0
            ),
            max_lease_expiries=read("PIPELOGIQ_MAX_LEASE_EXPIRIES", _positive(int), 5),
            publish_grace_seconds=read("PIPELOGIQ_PUBLISH_GRACE_SECONDS", _positive(float), 10.0),
            sweep_interval_seconds=read("PIPELOGIQ_SWEEP_INTERVAL_SECONDS", _positive(float), 1.0),
            startup_timeout_seconds=read(
                "PIPELOGIQ_STARTUP_TIMEOUT_SECONDS", _positive(float), 120.0
            ),
            shutdown_timeout_seconds=read(
                "PIPELOGIQ_SHUTDOWN_TIMEOUT_SECONDS", _positive(float), 10.0
            ),
            retain_pipelines_days=read("PIPELOGIQ_RETAIN_PIPELINES_DAYS", _days, 30),
            retain_logs_days=read("PIPELOGIQ_RETAIN_LOGS_DAYS", _days, 14),
            retain_workers_days=read("PIPELOGIQ_RETAIN_WORKERS_DAYS", _days, 7),
            retain_audit_days=read("PIPELOGIQ_RETAIN_AUDIT_DAYS", _days, 365),
            max_input_bytes=read("PIPELOGIQ_MAX_INPUT_BYTES", _positive(int), 1_048_576),
            max_artifact_bytes=read("PIPELOGIQ_MAX_ARTIFACT_BYTES", _positive(int), 104_857_600),
            artifact_link_seconds=read("PIPELOGIQ_ARTIFACT_LINK_SECONDS", _positive(int), 300),
            artifact_store=read("PIPELOGIQ_ARTIFACT_STORE", _url("s3://"), None),
            s3_endpoint_url=read("PIPELOGIQ_S3_ENDPOINT_URL", _url("http://", "https://"), None),
            amqp_queue_type=read(
                "PIPELOGIQ_AMQP_QUEUE_TYPE", _choice("classic", "quorum"), "classic"
            ),
            amqp_prefix=read("PIPELOGIQ_AMQP_PREFIX", str, ""),
            log_level=read(
                "PIPELOGIQ_LOG_LEVEL", _choice("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"
            ),
            log_format=read("PIPELOGIQ_LOG_FORMAT", log_format, "text"),
            event_loop=read("PIPELOGIQ_EVENT_LOOP", _event_loop, "auto"),
            trace_url=read("PIPELOGIQ_TRACE_URL", _trace_url, None),
            otel_traces_endpoint=_otlp_traces_endpoint(read),
            otel_service_name=read("OTEL_SERVICE_NAME", str, "pipelogiq"),
            jwt_secret=read("PIPELOGIQ_JWT_SECRET", _strong_secret, None, secret=True),
            access_token_seconds=read("PIPELOGIQ_ACCESS_TOKEN_SECONDS", _positive(int), 900),
            session_days=read("PIPELOGIQ_SESSION_DAYS", _positive(int), 7),
            secure_cookies=read("PIPELOGIQ_SECURE_COOKIES", _boolean, False),
            trusted_proxies=read("PIPELOGIQ_TRUSTED_PROXIES", _networks, ()),
            rate_per_key=read("PIPELOGIQ_RATE_PER_KEY", _not_negative, 2_000.0),
            burst_per_key=read("PIPELOGIQ_BURST_PER_KEY", _positive(int), 4_000),
            rate_per_user=read("PIPELOGIQ_RATE_PER_USER", _not_negative, 100.0),
            burst_per_user=read("PIPELOGIQ_BURST_PER_USER", _positive(int), 400),
            rate_per_client=read("PIPELOGIQ_RATE_PER_CLIENT", _not_negative, 4_000.0),
            burst_per_client=read("PIPELOGIQ_BURST_PER_CLIENT", _positive(int), 8_000),
            max_polls_per_key=read("PIPELOGIQ_MAX_POLLS_PER_KEY", _positive(int), 512),
        )


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __call__(
        self, name: str, parse: Callable[[str], T], default: T, *, secret: bool = False
    ) -> T:
        raw = self._env.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            return parse(raw.strip())
        except ValueError as error:
            shown = "(hidden)" if secret else repr(raw)
            raise SettingsError(f"{name}={shown} is not valid: {error}") from None


def _url(*schemes: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if not raw.startswith(schemes):
            raise ValueError(f"expected a URL starting with {' or '.join(schemes)}")
        return raw

    return parse


def _port(raw: str) -> int:
    port = int(raw) if raw.isdigit() else -1
    if not 1 <= port <= 65535:
        raise ValueError("expected a port number from 1 to 65535")
    return port


def _host(raw: str) -> str:
    if raw == "localhost":
        return raw
    try:
        ipaddress.ip_address(raw)
    except ValueError:
        raise ValueError("expected an IP address to listen on, such as 127.0.0.1") from None
    return raw


def _positive(kind: Callable[[str], T]) -> Callable[[str], T]:
    def parse(raw: str) -> T:
        try:
            value = kind(raw)
        except ValueError:
            raise ValueError(f"expected a positive {kind.__name__}") from None  # type: ignore[attr-defined]
        if not value > 0:  # type: ignore[operator]
            raise ValueError(f"expected a positive {kind.__name__}")  # type: ignore[attr-defined]
        return value

    return parse


def _otlp_traces_endpoint(read: _Reader) -> str | None:
    # As OpenTelemetry's exporters read them: the traces endpoint as it is, or the base
    # endpoint with the traces path added.
    http = _url("http://", "https://")
    traces = read("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", http, None)
    if traces is not None:
        return traces
    base = read("OTEL_EXPORTER_OTLP_ENDPOINT", http, None)
    return None if base is None else base.rstrip("/") + "/v1/traces"


def _trace_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")) or "{traceId}" not in raw:
        raise ValueError("expected an http(s) URL with {traceId} where the trace id goes")
    return raw


def _days(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError("expected a whole number of days (0 keeps for ever)")
    return int(raw)


MIN_SECRET_LENGTH = 32


def _strong_secret(raw: str) -> str:
    if len(raw) < MIN_SECRET_LENGTH or len(set(raw)) < 10:
        raise ValueError(
            f"must be at least {MIN_SECRET_LENGTH} random characters "
            "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return raw


def _networks(raw: str) -> tuple[str, ...]:
    try:
        return tuple(
            str(ipaddress.ip_network(part.strip())) for part in raw.split(",") if part.strip()
        )
    except ValueError:
        raise ValueError(
            "expected addresses or networks separated by commas, such as 10.0.0.0/8,127.0.0.1"
        ) from None


def _not_negative(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("expected a number of requests per second (0: no limit)") from None
    if not 0 <= value < float("inf"):
        raise ValueError("expected a number of requests per second (0: no limit)")
    return value


def _boolean(raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError("expected true or false")


def _event_loop(raw: str) -> EventLoop:
    _choice("auto", "asyncio", "uvloop")(raw)
    if raw == "uvloop" and importlib.util.find_spec("uvloop") is None:
        raise ValueError("uvloop is not installed (pip install 'pipelogiq[server]')")
    return raw  # type: ignore[return-value]


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(f"expected one of {', '.join(choices)}")
        return raw

    return parse
