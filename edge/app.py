"""The HTTP edge: authenticate, authorize, validate, write, enqueue, answer.

Run it with `uvicorn --factory edge.app:create_app` (or `edge.app:app`).
Nothing is configured at import time: `create_app` reads the settings and
the lifespan builds the handlers' dependencies (`EdgeServices`) once.
"""

from __future__ import annotations

import gc
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin, JsonRenderPlugin

from domain.accounts.service import AccountService
from domain.admin.service import AdminService
from domain.analytics.counters import HotCounters
from domain.billing.limits import PlanLimits
from domain.db import Database
from domain.ratelimit import RateLimiter, RedisRateLimiter
from domain.realtime import Publisher, RedisPublisher
from domain.team.invitations import InvitationRules
from edge.allow import allow_every_method
from edge.admin.auth import admin_auth_router
from edge.admin.customers import customers_router
from edge.admin.guard import AdminCaller, provide_admin
from edge.admin.operations import operations_router
from edge.admin.system import system_router
from edge.admin.trials import trials_router
from edge.admin.tickets import admin_tickets_router
from edge.auth import EventSender, Tenant, provide_event_sender, provide_tenant
from edge.body import ApiRequest
from edge.errors import HANDLERS
from edge.headers import cors_config, security_headers
from edge.openapi import complete
from edge.ratelimits import rate_limit_guard, rate_limit_headers
from edge.routes.agents import agents_router
from edge.routes.analytics import analytics_router, events_router
from edge.routes.api_keys import api_keys_router
from edge.routes.auth import auth_router, me_router
from edge.routes.billing import billing_router, webhooks_router
from edge.routes.commands import commands_router
from edge.routes.notifications import notifications_router
from edge.routes.support import support_router
from edge.routes.team import invitations_router, team_router
from edge.routes.health import healthz, readyz
from edge.correlation import request_ids
from edge.metrics import metrics_endpoint, request_metrics
from objecta import observability, wiring
from objecta.async_sender import AsyncRedisSender
from objecta.broker import BrokerSender, build_broker
from objecta.settings import AnalyticsSettings, Settings, load


@dataclass
class EdgeServices:
    """Everything the edge's handlers are handed, built once per process when the app starts.

    Each field is a dependency of the same name (`Provide`): a handler or a
    dependency asks for `db`, `accounts`, `plan_limits`... by parameter name.
    """

    settings: Settings
    db: Database
    redis: aioredis.Redis
    publisher: Publisher
    rate_limiter: RateLimiter
    accounts: AccountService
    plan_limits: PlanLimits
    invitation_rules: InvitationRules
    # The admin realm (docs/admin.md): its own key and audience; `admin` below is built from it.
    admin_service: AdminService
    counters: HotCounters
    analytics_settings: AnalyticsSettings


def _dependency(name: str) -> Provide:
    def provide(state: State) -> Any:
        return getattr(state.services, name)

    provide.__name__ = f"provide_{name}"
    return Provide(provide, sync_to_thread=False)


DEPENDENCIES = {name: _dependency(name) for name in EdgeServices.__dataclass_fields__} | {
    "tenant": Provide(provide_tenant, sync_to_thread=False), "admin": Provide(provide_admin, sync_to_thread=False),
    "event_sender": Provide(provide_event_sender, sync_to_thread=False)}


def job_sender(settings: Settings, broker) -> BrokerSender | AsyncRedisSender:
    """How the edge sends jobs after commit: awaited on the event loop on the Redis broker (decision 121)."""
    if settings.broker.is_rabbitmq:
        return BrokerSender(broker)
    return AsyncRedisSender(broker, settings.broker.url or settings.redis.url)


def create_app(settings: Settings | None = None) -> Litestar:
    """The edge's composition root: settings in, an app whose lifespan builds `EdgeServices`."""
    settings = settings or load()
    observability.setup(settings, "edge")

    @asynccontextmanager
    async def lifespan(app: Litestar):
        broker = build_broker(settings)
        redis = wiring.redis(settings)
        sender = job_sender(settings, broker)
        app.state.services = EdgeServices(
            settings=settings, db=wiring.database(settings, jobs=sender), redis=redis,
            publisher=RedisPublisher(redis), rate_limiter=RedisRateLimiter(redis, namespace=settings.broker.namespace),
            accounts=wiring.accounts(settings),
            plan_limits=wiring.plan_limits(settings), invitation_rules=wiring.invitation_rules(settings),
            admin_service=wiring.admin(settings), counters=HotCounters(redis), analytics_settings=settings.analytics)
        # Everything built so far lives as long as the process: keep it out of the collector's
        # full passes, which otherwise rescan it every few requests that allocate a lot (decision 107).
        gc.freeze()
        try:
            yield
        finally:
            await redis.aclose()
            await app.state.services.db.dispose()
            if isinstance(sender, AsyncRedisSender):
                await sender.close()
            broker.close()

    app = Litestar(
        route_handlers=[healthz, readyz, metrics_endpoint, auth_router, me_router, agents_router, commands_router,
                        notifications_router, team_router, invitations_router, billing_router, webhooks_router,
                        events_router, analytics_router, api_keys_router,
                        support_router, admin_auth_router, customers_router, admin_tickets_router,
                        operations_router, system_router, trials_router],
        dependencies=DEPENDENCIES,
        signature_namespace={"Tenant": Tenant, "AdminCaller": AdminCaller, "Publisher": Publisher, "State": State,
                             "EventSender": EventSender, "HotCounters": HotCounters,
                             "AnalyticsSettings": AnalyticsSettings},
        exception_handlers=HANDLERS,
        middleware=[request_ids, request_metrics],
        lifespan=[lifespan],
        request_max_body_size=settings.http.max_body_bytes,
        request_class=ApiRequest,
        before_send=[allow_every_method, rate_limit_headers, security_headers],
        cors_config=cors_config(settings),
        guards=[rate_limit_guard],  # every limit, before any dependency (edge/ratelimits.py)
        openapi_config=OpenAPIConfig(
            title="ObjectaLabs platform API", version="1", path="/schema",
            render_plugins=[JsonRenderPlugin(), SwaggerRenderPlugin(path="/swagger")]),
        debug=False,
        # JSON lines: objecta.observability formats every logger, uvicorn's too; Litestar's own config would
        # put its text format back on them.
        **({"logging_config": None} if settings.observability.log_format == "json" else {}),
    )
    complete(app)
    return app


def __getattr__(name: str):
    # `uvicorn edge.app:app` works too, building the app on first access.
    if name == "app":
        return create_app()
    raise AttributeError(name)
