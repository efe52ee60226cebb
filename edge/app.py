"""The HTTP edge: authenticate, authorize, validate, write, enqueue, answer.

Run it with `uvicorn --factory edge.app:create_app` (or `edge.app:app`).
Nothing is configured at import time: `create_app` reads the settings and
the lifespan opens the pools.
"""

from __future__ import annotations

from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from litestar import Litestar, Request
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin, JsonRenderPlugin

from domain import jobs
from domain.accounts.service import AccountService
from domain.accounts.tokens import TokenIssuer
from domain.analytics.counters import HotCounters
from domain.db import Database
from domain.ratelimit import RedisRateLimiter
from domain.realtime import Publisher, RedisPublisher
from domain.team.invitations import InvitationRules
from edge.auth import EventSender, Tenant, provide_event_sender, provide_tenant
from edge.errors import HANDLERS
from edge.routes.agents import agents_router
from edge.routes.analytics import analytics_router, events_router
from edge.routes.api_keys import api_keys_router
from edge.routes.auth import auth_router, me_router
from edge.routes.billing import billing_router, webhooks_router
from edge.routes.commands import commands_router
from edge.routes.notifications import notifications_router
from edge.routes.team import invitations_router, team_router
from edge.routes.health import healthz, readyz
from objecta import observability
from objecta.broker import BrokerSender, build_broker
from objecta import settings as settings_module
from objecta.settings import AnalyticsSettings, Settings


def provide_publisher(request: Request) -> Publisher:
    return request.app.state.publisher


def provide_counters(request: Request) -> HotCounters:
    return request.app.state.counters


def provide_analytics_settings(request: Request) -> AnalyticsSettings:
    return request.app.state.settings.analytics


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or settings_module.get()
    observability.setup(settings, "edge")

    @asynccontextmanager
    async def lifespan(app: Litestar):
        broker = build_broker(settings)
        jobs.use(BrokerSender(broker))
        app.state.settings = settings
        app.state.db = Database(settings.database.app_url, settings.database.pool_size)
        app.state.redis = aioredis.from_url(settings.redis.url, decode_responses=True)
        app.state.publisher = RedisPublisher(app.state.redis)
        app.state.rate_limiter = RedisRateLimiter(app.state.redis)
        app.state.counters = HotCounters(app.state.redis)
        app.state.invitation_rules = InvitationRules(
            per_hour=settings.team.invitations_per_hour, ttl_hours=settings.team.invitation_ttl_hours,
            free_plan_seats=settings.team.free_plan_seats, app_url=settings.http.app_url)
        app.state.accounts = AccountService(
            TokenIssuer(settings.auth.jwt_secret, audience=settings.auth.audience, issuer=settings.auth.issuer,
                        access_ttl=settings.auth.access_token_ttl, refresh_ttl=settings.auth.refresh_token_ttl),
            settings.auth.bcrypt_rounds)
        try:
            yield
        finally:
            await app.state.redis.aclose()
            await app.state.db.dispose()
            broker.close()

    return Litestar(
        route_handlers=[healthz, readyz, auth_router, me_router, agents_router, commands_router,
                        notifications_router, team_router, invitations_router, billing_router, webhooks_router,
                        events_router, analytics_router, api_keys_router],
        dependencies={"tenant": Provide(provide_tenant), "publisher": Provide(provide_publisher, sync_to_thread=False),
                      "event_sender": Provide(provide_event_sender),
                      "counters": Provide(provide_counters, sync_to_thread=False),
                      "analytics_settings": Provide(provide_analytics_settings, sync_to_thread=False)},
        signature_namespace={"Tenant": Tenant, "Publisher": Publisher, "EventSender": EventSender,
                             "HotCounters": HotCounters, "AnalyticsSettings": AnalyticsSettings},
        exception_handlers=HANDLERS,
        lifespan=[lifespan],
        request_max_body_size=settings.http.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="ObjectaLabs platform API", version="1", path="/schema",
            render_plugins=[JsonRenderPlugin(), SwaggerRenderPlugin(path="/swagger")]),
        debug=False,
    )


def __getattr__(name: str):
    # `uvicorn edge.app:app` works too, building the app on first access.
    if name == "app":
        return create_app()
    raise AttributeError(name)
