"""How each piece is built from settings: the one place every composition root calls.

Each process kind has one composition root that builds what it needs once and
hands it over explicitly: the edge (`edge/app.py`, through Litestar's
`Provide`), the relay (`edge/relay.py`), a worker process
(`workers/context.py`), the scheduler (`workers/broker.py`) and the CLI
(`objecta/cli.py`). They all build through these functions, so a piece is
configured the same way everywhere. Adapters to outside services (Stripe,
SendGrid) are imported inside their builder: a process that never calls them,
like the edge, never loads their SDKs.

Module-level state is what a library forces, and lives in two places only:
`workers/broker.py` (Dramatiq's CLI imports a module for its broker) and
`workers/context.py` (actors are module-level functions, so a worker process's
context is reached from them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis.asyncio as aioredis

from domain.accounts.service import AccountService, LoginLockout
from domain.notifications.security import NotificationAlerts
from domain.admin.service import AdminService
from domain.admin.tokens import AdminTokenIssuer
from domain.accounts.tokens import TokenIssuer
from domain.billing.limits import PlanLimits
from domain.billing.plans import FreeLimits
from domain.db import Database
from domain.jobs import JobSender
from domain.team.invitations import InvitationRules
from objecta.connections import redis_options
from objecta.settings import Settings

if TYPE_CHECKING:
    from domain.billing.payments import Payments
    from domain.mail.mailer import Mailer


def database(settings: Settings, jobs: JobSender | None) -> Database:
    """The application role's pool (row-level security applies); `jobs` receives what commits enqueue."""
    return Database(settings.database.app_url, settings.database.pool_size, jobs=jobs)


def redis(settings: Settings) -> aioredis.Redis:
    """An asyncio Redis client with bounded connect and answer times (objecta/connections.py)."""
    return aioredis.from_url(settings.redis.url, decode_responses=True, **redis_options(asyncio=True))


def accounts(settings: Settings) -> AccountService:
    auth = settings.auth
    issuer = TokenIssuer(auth.jwt_secret, audience=auth.audience, issuer=auth.issuer,
                         access_ttl=auth.access_token_ttl, refresh_ttl=auth.refresh_token_ttl)
    return AccountService(issuer, auth.bcrypt_rounds, LoginLockout(
        attempts=auth.login_attempts, window=auth.login_lock_seconds, daily=auth.login_daily_attempts),
        alerts=NotificationAlerts())


def admin(settings: Settings) -> AdminService:
    """The admin realm: its own signing key (ADMIN_JWT_SECRET) and audience, never the tenant's."""
    realm = settings.admin
    issuer = AdminTokenIssuer(realm.jwt_secret, audience=realm.audience, issuer=realm.issuer,
                              access_ttl=realm.access_token_ttl, refresh_ttl=realm.refresh_token_ttl,
                              mfa_ttl=realm.mfa_token_ttl)
    return AdminService(issuer, bcrypt_rounds=settings.auth.bcrypt_rounds, attempts=realm.login_attempts,
                        window=realm.attempt_window, totp_issuer=realm.totp_issuer)


def plan_limits(settings: Settings) -> PlanLimits:
    """The plans' limits, with the free plan's from FREE_PLAN_SEATS, FREE_PLAN_AGENTS, FREE_PLAN_MESSAGES."""
    return PlanLimits(FreeLimits(seats=settings.team.free_plan_seats, agents=settings.billing.free_plan_agents,
                                 messages=settings.billing.free_plan_messages))


def invitation_rules(settings: Settings) -> InvitationRules:
    return InvitationRules(per_hour=settings.team.invitations_per_hour, ttl_hours=settings.team.invitation_ttl_hours)


def payments(settings: Settings) -> Payments:
    """Stripe, or the local stand-in when STRIPE_SECRET_KEY is not set (the same HTTP API)."""
    if settings.billing.stripe_secret_key:
        from domain.adapters.stripe_payments import StripePayments

        return StripePayments(settings.billing.stripe_secret_key, settings.billing.api_base)
    from domain.adapters.stripe_payments import StandInPayments

    return StandInPayments(settings.billing.api_base)


def mailer(settings: Settings) -> Mailer:
    """SendGrid when SENDGRID_API_KEY is set, else `.eml` files in the outbox under OBJECTA_HOME."""
    if settings.mail.sendgrid_api_key:
        from domain.adapters.sendgrid_mailer import SendGridMailer

        return SendGridMailer(settings.mail.sendgrid_api_key, settings.mail.sendgrid_api_host)
    from domain.adapters.outbox_mailer import OutboxMailer

    return OutboxMailer(settings.mail.outbox)
