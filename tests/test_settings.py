import asyncio
import importlib.util
import sys
from pathlib import Path

import pytest

from controlplane.settings import EventLoop, Settings, SettingsError
from pipelogiq.cli import run_event_loop


def test_defaults_when_nothing_is_set() -> None:
    settings = Settings.from_env({})
    assert settings.database_url is None
    assert settings.amqp_url is None
    assert settings.data_dir == Path(".pipelogiq")
    assert (settings.internal_port, settings.external_port, settings.metrics_port) == (
        8080,
        8081,
        9090,
    )
    assert settings.host == "127.0.0.1"


def test_values_are_read_and_parsed() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql://u@db/x",
            "AMQP_URL": "amqp://guest:guest@mq/",
            "PIPELOGIQ_DATA_DIR": "/var/lib/pq",
            "PIPELOGIQ_EXTERNAL_PORT": "9001",
            "PIPELOGIQ_HOST": "0.0.0.0",
            "PIPELOGIQ_LEASE_SECONDS": "12.5",
            "PIPELOGIQ_AMQP_QUEUE_TYPE": "quorum",
            "PIPELOGIQ_LOG_FORMAT": "JSON",
            "PIPELOGIQ_TRACE_URL": "https://jaeger.example.com/trace/{traceId}",
            "PIPELOGIQ_RETAIN_LOGS_DAYS": "0",
            "PIPELOGIQ_SHUTDOWN_TIMEOUT_SECONDS": "25",
            "PIPELOGIQ_DASHBOARD_DIR": "/app/dashboard",
            "PIPELOGIQ_EVENT_LOOP": "asyncio",
        }
    )
    assert settings.database_url == "postgresql://u@db/x"
    assert settings.data_dir == Path("/var/lib/pq")
    assert settings.external_port == 9001
    assert settings.host == "0.0.0.0"
    assert settings.lease_seconds == 12.5
    assert settings.amqp_queue_type == "quorum"
    assert settings.log_format == "json"
    assert settings.trace_url == "https://jaeger.example.com/trace/{traceId}"
    assert (settings.retain_logs_days, settings.retain_pipelines_days) == (0, 30)
    assert settings.shutdown_timeout_seconds == 25
    assert settings.dashboard_dir == Path("/app/dashboard")
    assert settings.event_loop == "asyncio"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PIPELOGIQ_INTERNAL_PORT", "eighty"),
        ("PIPELOGIQ_EXTERNAL_PORT", "70000"),
        ("PIPELOGIQ_METRICS_PORT", "-1"),
        ("PIPELOGIQ_HOST", "not a host"),
        ("DATABASE_URL", "mysql://x"),
        ("AMQP_URL", "http://rabbit"),
        ("PIPELOGIQ_LEASE_SECONDS", "0"),
        ("PIPELOGIQ_AMQP_QUEUE_TYPE", "stream"),
        ("PIPELOGIQ_LOG_FORMAT", "xml"),
        ("PIPELOGIQ_TRACE_URL", "https://jaeger.example.com/trace/"),
        ("PIPELOGIQ_RETAIN_PIPELINES_DAYS", "-3"),
        ("PIPELOGIQ_SHUTDOWN_TIMEOUT_SECONDS", "0"),
        ("PIPELOGIQ_EVENT_LOOP", "trio"),
    ],
)
def test_a_malformed_setting_fails_with_one_line_naming_it(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({name: value})
    message = str(raised.value)
    assert message.startswith(f"{name}=")
    assert "\n" not in message


def test_uvloop_is_refused_where_it_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what an import then finds: nothing
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SettingsError, match=r"PIPELOGIQ_EVENT_LOOP='uvloop' .*not installed"):
        Settings.from_env({"PIPELOGIQ_EVENT_LOOP": "uvloop"})
    assert Settings.from_env({}).event_loop == "auto"


@pytest.mark.parametrize(
    ("choice", "installed", "expected"),
    [
        ("auto", True, "uvloop"),
        ("auto", False, "asyncio"),
        ("asyncio", True, "asyncio"),
        ("uvloop", True, "uvloop"),
    ],
)
def test_the_process_runs_on_the_event_loop_chosen(
    monkeypatch: pytest.MonkeyPatch, choice: EventLoop, installed: bool, expected: str
) -> None:
    if not installed:
        monkeypatch.setitem(sys.modules, "uvloop", None)
    seen: list[str] = []

    async def which_loop() -> None:
        seen.append(type(asyncio.get_running_loop()).__module__.partition(".")[0])

    run_event_loop(choice, which_loop())
    assert seen == [expected]
