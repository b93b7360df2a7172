"""Request counts and durations of an API, by route template (never by raw path)."""

from __future__ import annotations

from litestar.middleware import DefineMiddleware
from litestar.plugins.prometheus import PrometheusConfig

# Probes and scrapes would outnumber real requests.
_NOT_COUNTED = ["^/metrics$", "^/healthz$", "^/readyz$"]


def request_metrics(api: str) -> DefineMiddleware:
    """``pipelogiq_http_requests_total`` and ``pipelogiq_http_request_duration_seconds``, with
    the labels ``app_name`` (``api``), ``method``, ``path`` (the route) and ``status_code``."""
    return PrometheusConfig(
        app_name=api,
        prefix="pipelogiq_http",
        group_path=True,
        exclude_unhandled_paths=True,
        exclude=_NOT_COUNTED,
    ).middleware
