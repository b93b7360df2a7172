"""Settings, read once from the environment at start.

A missing or malformed value stops the process with one line that names the variable, so a
typo in a deployment fails at once and not at the first request.
"""

from __future__ import annotations

import base64
import binascii
import importlib.util
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar

from worker_sdk.logs import LogFormat, log_format

T = TypeVar("T")
EventLoop = Literal["auto", "asyncio", "uvloop"]


class SettingsError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


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


def _key(raw: str) -> str:
    try:
        decoded = base64.b64decode(raw, validate=True)
    except binascii.Error:
        raise ValueError("expected base64 (openssl rand -base64 32)") from None
    if len(decoded) != 32:
        raise ValueError("expected 32 bytes, base64-encoded (openssl rand -base64 32)")
    return raw


def _count(raw: str) -> int:
    if not raw.isdigit():
        raise ValueError("expected a whole number (0 keeps every one)")
    return int(raw)


MIN_SECRET_LENGTH = 32


def _strong_secret(raw: str) -> str:
    if len(raw) < MIN_SECRET_LENGTH or len(set(raw)) < 10:
        raise ValueError(
            f"must be at least {MIN_SECRET_LENGTH} random characters "
            "(for example: python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
        )
    return raw


def _entries(raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


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


def setting(
    default: Any, parse: Callable[[str], Any], *, env: str | None = None, secret: bool = False
) -> Any:
    """A setting: its default, and how its environment variable (``env``; unless named,
    ``PIPELOGIQ_`` and the setting's name in capitals) is read. Each is declared once,
    here and nowhere else; :meth:`Settings.from_env` reads them all."""
    return field(default=default, metadata={"env": env, "parse": parse, "secret": secret})


@dataclass(frozen=True, kw_only=True)
class Settings:
    database_url: str | None = setting(
        None, _url("postgresql://", "postgres://"), env="DATABASE_URL"
    )
    amqp_url: str | None = setting(None, _url("amqp://", "amqps://"), env="AMQP_URL")
    data_dir: Path = setting(Path(".pipelogiq"), Path)
    # The built dashboard; unset: dashboard/dist of the source checkout.
    dashboard_dir: Path | None = setting(None, Path)
    host: str = setting("127.0.0.1", _host)
    internal_port: int = setting(8080, _port)
    external_port: int = setting(8081, _port)
    metrics_port: int = setting(9090, _port)
    # How long a claimed job stays with its worker without a heartbeat.
    lease_seconds: float = setting(30.0, _positive(float))
    heartbeat_interval_seconds: float = setting(10.0, _positive(float))
    worker_offline_after_seconds: float = setting(60.0, _positive(float))
    # Lease losses a stage may have (its worker vanished) before it fails for good.
    max_lease_expiries: int = setting(5, _positive(int))
    # A queued stage whose publish was not recorded this long after it was queued is
    # published again by the relay.
    publish_grace_seconds: float = setting(10.0, _positive(float))
    sweep_interval_seconds: float = setting(1.0, _positive(float))
    # How long a process waits at start for the database and the broker to answer.
    startup_timeout_seconds: float = setting(120.0, _positive(float))
    # How long a process may take, after SIGTERM, to finish what it is doing before it exits.
    shutdown_timeout_seconds: float = setting(10.0, _positive(float))
    # Days kept before the built-in worker deletes them (0: kept for ever): finished
    # pipelines with all of theirs, stage logs, workers gone quiet with their events, the
    # audit log.
    retain_pipelines_days: int = setting(30, _days)
    retain_logs_days: int = setting(14, _days)
    retain_workers_days: int = setting(7, _days)
    retain_audit_days: int = setting(365, _days)
    # The newest versions of each dataset the lake keeps, for applications that set none of
    # their own (0: every version); versions a retained pipeline wrote or read stay too.
    retain_dataset_versions: int = setting(0, _count)
    max_input_bytes: int = setting(1_048_576, _positive(int))
    # Where uploads land, under uploads/: the lake the dataset workers read (their
    # PIPELOGIQ_LAKE, the same path or object store URI), and the largest file taken.
    lake: str = setting(".pipelogiq/lake", str)
    max_upload_bytes: int = setting(1 << 30, _positive(int))
    # Seals the passwords of database connections: 32 bytes, base64 (unset: derived from
    # the JWT secret, so changing that makes them unreadable too).
    connection_key: str | None = setting(None, _key, secret=True)
    # Internal addresses (CIDRs, comma-separated) the control plane may connect to when it
    # tests a connection or lists its tables; public ones need no listing.
    connections_allow: tuple[str, ...] = setting((), _networks)
    # Internal hosts (names, addresses or CIDRs, comma-separated) alert channels may send to:
    # webhooks, Slack and mail servers that resolve to loopback, private or link-local
    # addresses are refused unless listed.
    alerts_allow: tuple[str, ...] = setting((), _entries)
    # How often the built-in worker evaluates alert rules (it is also woken by failures),
    # and how long it waits on a channel before counting the try failed.
    alert_interval_seconds: float = setting(5.0, _positive(float))
    alert_send_timeout_seconds: float = setting(10.0, _positive(float))
    # The dashboard's address as people reach it, for links in notifications (unset: none).
    public_url: str | None = setting(None, _url("http://", "https://"))
    # The largest file a job may attach, and how long a download link works.
    max_artifact_bytes: int = setting(104_857_600, _positive(int))
    artifact_link_seconds: int = setting(300, _positive(int))
    # s3://bucket/prefix to keep artifacts in a bucket (unset: under the data dir), and the
    # endpoint of an S3-compatible store that is not AWS.
    artifact_store: str | None = setting(None, _url("s3://"))
    s3_endpoint_url: str | None = setting(None, _url("http://", "https://"))
    amqp_queue_type: Literal["classic", "quorum"] = setting("classic", _choice("classic", "quorum"))
    # Prefixes every queue and exchange name; lets several installations (or test runs)
    # share one RabbitMQ virtual host.
    amqp_prefix: str = setting("", str)
    log_level: str = setting("INFO", _choice("DEBUG", "INFO", "WARNING", "ERROR"))
    # json: one JSON object per line, with the pipeline, stage, job and trace ids as fields.
    log_format: LogFormat = setting("text", log_format)
    # uvloop when it is installed (the server extra brings it), else the standard loop.
    event_loop: EventLoop = setting("auto", _event_loop)
    # A link to a trace in your tracing UI, with {traceId} where its id goes; the dashboard
    # links each pipeline to its trace with it.
    trace_url: str | None = setting(None, _trace_url)
    # Where spans of pipelines and jobs go (OTLP over HTTP), from OpenTelemetry's own
    # OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT; unset: no export.
    otel_traces_endpoint: str | None = None
    otel_service_name: str = setting("pipelogiq", str, env="OTEL_SERVICE_NAME")
    # Signs the internal API's session tokens. `pipelogiq dev` makes one and keeps it in the
    # data dir; every other process refuses to start without a strong one.
    jwt_secret: str | None = setting(None, _strong_secret, secret=True)
    access_token_seconds: int = setting(900, _positive(int))
    session_days: int = setting(7, _positive(int))
    # Mark session cookies Secure even on plain HTTP (behind a TLS-terminating proxy that does
    # not send X-Forwarded-Proto). Requests over HTTPS always get Secure cookies.
    secure_cookies: bool = setting(False, _boolean)
    # Proxies (addresses or networks) whose X-Forwarded-For and X-Forwarded-Proto are
    # believed; from anyone else the peer address is the client's.
    trusted_proxies: tuple[str, ...] = setting((), _networks)
    # Requests per second, and bursts, one API key (external API), one user (internal API)
    # and one client address (either) may send to one API process; 0 turns a limit off.
    rate_per_key: float = setting(2_000.0, _not_negative)
    burst_per_key: int = setting(4_000, _positive(int))
    rate_per_user: float = setting(100.0, _not_negative)
    burst_per_user: int = setting(400, _positive(int))
    rate_per_client: float = setting(4_000.0, _not_negative)
    burst_per_client: int = setting(8_000, _positive(int))
    # Long polls one API key may have waiting at once on one API process.
    max_polls_per_key: int = setting(512, _positive(int))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        read = _Reader(os.environ if environ is None else environ)
        values = {
            f.name: read(
                f.metadata["env"] or f"PIPELOGIQ_{f.name.upper()}",
                f.metadata["parse"],
                f.default,
                secret=f.metadata["secret"],
            )
            for f in fields(cls)
            if "parse" in f.metadata
        }
        return cls(**values, otel_traces_endpoint=_otlp_traces_endpoint(read))
