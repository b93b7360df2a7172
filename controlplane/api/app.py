"""Building the two Litestar applications around a shared :class:`Services`."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from controlplane.api.auth import application_of, authenticate
from controlplane.api.boundary import CheckedRequest, refuse_nul_in_url
from controlplane.api.contract import RequestStructs, document_errors
from controlplane.api.external.approvals import ApprovalController
from controlplane.api.external.artifacts import ArtifactController
from controlplane.api.external.connections import ConnectionController
from controlplane.api.external.datasets import DatasetController
from controlplane.api.external.definitions import DefinitionController
from controlplane.api.external.jobs import JobController
from controlplane.api.external.pipelines import PipelineController
from controlplane.api.external.templates import TemplateController
from controlplane.api.external.workers import WorkerController
from controlplane.api.health import HealthController
from controlplane.api.internal.alert_channels import AlertChannelController
from controlplane.api.internal.alert_rules import AlertRuleController
from controlplane.api.internal.alerts import AlertController
from controlplane.api.internal.applications import ApplicationController
from controlplane.api.internal.approvals import ApprovalController as InternalApprovalController
from controlplane.api.internal.artifacts import ArtifactController as InternalArtifactController
from controlplane.api.internal.artifacts import DownloadController
from controlplane.api.internal.audit import AuditController
from controlplane.api.internal.auth import AuthController, SessionController
from controlplane.api.internal.connections import (
    ConnectionController as InternalConnectionController,
)
from controlplane.api.internal.dashboard import dashboard_home, dashboard_page
from controlplane.api.internal.datasets import DatasetController as InternalDatasetController
from controlplane.api.internal.datasets import DatasetRetentionController
from controlplane.api.internal.definitions import (
    DefinitionController as InternalDefinitionController,
)
from controlplane.api.internal.insights import InsightsController
from controlplane.api.internal.live import LiveHub, live_updates
from controlplane.api.internal.logs import LogController
from controlplane.api.internal.pipelines import PipelineController as InternalPipelineController
from controlplane.api.internal.policies import PolicyController
from controlplane.api.internal.retention import RetentionController
from controlplane.api.internal.schedules import ScheduleController
from controlplane.api.internal.session import authenticated, csrf_token_matches, same_origin
from controlplane.api.internal.stages import StageController
from controlplane.api.internal.templates import InternalTemplateController
from controlplane.api.internal.users import UserController
from controlplane.api.internal.workers import WorkerController as InternalWorkerController
from controlplane.api.problems import EXCEPTION_HANDLERS
from controlplane.api.rate_limits import RateLimits
from controlplane.api.request_metrics import request_metrics
from controlplane.broker.memory import InMemoryBroker
from controlplane.services import Services
from controlplane.settings import Settings
from controlplane.version import package_version

# Bodies above this are refused with 413 before they are read whole.
MAX_BODY_BYTES = 16 * 1024 * 1024


def create_external_app(services: Services) -> Litestar:
    limits = RateLimits("external", services.settings)
    authenticated = Router(
        path="/",
        route_handlers=[
            PipelineController,
            JobController,
            WorkerController,
            TemplateController,
            ApprovalController,
            DefinitionController,
            ArtifactController,
            DatasetController,
            ConnectionController,
        ],
        guards=[authenticate],
        dependencies={"application": Provide(application_of, sync_to_thread=False)},
        security=[{"apiKey": []}, {"bearer": []}],
    )
    app = Litestar(
        route_handlers=[authenticated, HealthController],
        dependencies={"services": Provide(lambda: services, sync_to_thread=False)},
        # The guards and exception handlers find what they need here.
        state=State({"services": services, "limits": limits}),
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=None,  # the process's own (see worker_sdk.logs)
        middleware=[request_metrics("external"), limits.middleware, refuse_nul_in_url],
        request_class=CheckedRequest,
        request_max_body_size=MAX_BODY_BYTES,
        plugins=[RequestStructs()],
        openapi_config=OpenAPIConfig(
            title="Pipelogiq external API",
            version=package_version(),
            path="/schema",
            components=Components(
                security_schemes={
                    "apiKey": SecurityScheme(
                        type="apiKey", name="X-API-Key", security_scheme_in="header"
                    ),
                    "bearer": SecurityScheme(type="http", scheme="bearer"),
                }
            ),
        ),
        debug=False,
    )
    document_errors(app, authenticated_by=authenticate)
    return app


def openapi_document(api: Literal["external", "internal"]) -> dict[str, Any]:
    """An API's OpenAPI document, as served at /schema/openapi.json, without a running
    process; the dashboard's typed client is generated from the internal one (`just
    dashboard-types`)."""
    services = Services(Settings(), pool=None, broker=InMemoryBroker())  # type: ignore[arg-type]
    create = create_external_app if api == "external" else create_internal_app
    return create(services).openapi_schema.to_schema()


def internal_openapi() -> dict[str, Any]:
    return openapi_document("internal")


def create_internal_app(services: Services) -> Litestar:
    """The dashboard's API, under /api; health, version and metrics at the root."""
    signed_in = Router(
        path="/",
        route_handlers=[
            SessionController,
            ApplicationController,
            UserController,
            AuditController,
            RetentionController,
            InternalPipelineController,
            StageController,
            PolicyController,
            InsightsController,
            InternalWorkerController,
            InternalApprovalController,
            InternalDefinitionController,
            ScheduleController,
            AlertChannelController,
            AlertRuleController,
            AlertController,
            InternalArtifactController,
            InternalDatasetController,
            DatasetRetentionController,
            InternalConnectionController,
            LogController,
            InternalTemplateController,
        ],
        guards=[same_origin, csrf_token_matches, authenticated],
    )
    api = Router(
        path="/api",
        route_handlers=[AuthController, DownloadController, signed_in, live_updates],
    )
    hub = LiveHub(services.broker)
    limits = RateLimits("internal", services.settings)
    app = Litestar(
        route_handlers=[api, HealthController, dashboard_home, dashboard_page],
        dependencies={"services": Provide(lambda: services, sync_to_thread=False)},
        # Guards and the WebSocket cannot take dependencies; they find what they need here.
        state=State({"services": services, "live": hub, "limits": limits}),
        on_shutdown=[hub.close],
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=None,  # the process's own (see worker_sdk.logs)
        middleware=[request_metrics("internal"), limits.middleware, refuse_nul_in_url],
        request_class=CheckedRequest,
        plugins=[RequestStructs()],
        openapi_config=OpenAPIConfig(
            title="Pipelogiq internal API", version=package_version(), path="/schema"
        ),
        debug=False,
    )
    document_errors(app, authenticated_by=authenticated)
    return app
