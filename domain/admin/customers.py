"""Customers as support sees them: every organization, searched, opened, suspended, granted extras, annotated.

Runs in the system scope (`Database.transaction(system=True)`): the admin realm's
one explicit path across tenants, and every request on it is audited by the edge.
Suspending publishes `organization.suspended` on the organization's channel: the
relay closes those websockets at once (it also rechecks every minute), and the
tenant guard refuses every request of its members with 403 `organization_suspended`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.admin import repository
from domain.admin.errors import CustomerNotFound
from domain.billing import trial_extension
from domain.billing.limits import PlanLimits
from domain.commands import service as commands
from domain.commands.models import Command, Idempotency
from domain.realtime import Publisher, org_channel, publish_after_commit
from domain.support import service as support

SUSPENDED_EVENT = "organization.suspended"


@dataclass(frozen=True)
class CustomerChange:
    """What a PATCH asks; None leaves a thing as it is."""

    suspend_reason: str | None = None  # suspend with this reason
    unsuspend: bool = False
    extra_seats: int | None = None
    extra_agents: int | None = None
    note: str | None = None


async def search(session: AsyncSession, *, q: str | None, plan: str | None, status: str | None,
                 cursor: str | None, limit: int) -> pagination.Page[dict[str, Any]]:
    before = pagination.decode_cursor(cursor) if cursor else None
    rows = await repository.customers(session, q=q, plan=plan, status=status, before=before,
                                      limit=pagination.check_limit(limit) + 1)
    if len(rows) > limit:
        rows = rows[:limit]
        return pagination.Page(rows, pagination.encode_cursor(rows[-1]["created_at"], rows[-1]["id"]))
    return pagination.Page(rows, None)


async def detail(session: AsyncSession, org_id: uuid.UUID, limits: PlanLimits) -> dict[str, Any]:
    """Members and roles, subscription, invoices, usage against the plan, recent activity, tickets, notes."""
    customer = await repository.customer(session, org_id)
    if customer is None:
        raise CustomerNotFound("no such organization")
    usage = await limits.usage(session, org_id)
    agent_limit = usage.plan.agent_limit
    return {**customer,
            "members": await repository.members(session, org_id),
            "invoices": await repository.invoices(session, org_id),
            "usage": {"plan": usage.plan.name, "seats": usage.seats, "seats_used": usage.seats_used,
                      "agents_used": usage.agents_used,
                      "agent_limit": agent_limit,
                      "messages_used": usage.messages_used, "monthly_messages": usage.plan.monthly_messages,
                      "period_start": usage.period_start},
            "activity": await repository.recent_activity(session, org_id),
            "tickets": (await support.tickets(session, org_id, cursor=None, limit=20)).items,
            "notes": await repository.notes(session, org_id)}


async def change(session: AsyncSession, publisher: Publisher, admin_id: uuid.UUID, org_id: uuid.UUID,
                 change: CustomerChange) -> list[str]:
    """Apply what support does; returns what changed (for the audit log)."""
    if await repository.customer(session, org_id) is None:
        raise CustomerNotFound("no such organization")
    done = []
    if change.suspend_reason is not None:
        await repository.set_suspension(session, org_id, change.suspend_reason)
        publish_after_commit(session, publisher, org_channel(org_id), SUSPENDED_EVENT,
                             {"reason": change.suspend_reason})
        done.append("suspended")
    elif change.unsuspend:
        await repository.set_suspension(session, org_id, None)
        done.append("unsuspended")
    if change.extra_seats is not None or change.extra_agents is not None:
        await repository.set_grants(session, org_id, extra_seats=change.extra_seats, extra_agents=change.extra_agents)
        done.append("granted")
    if change.note:
        await repository.add_note(session, org_id, admin_id, change.note)
        done.append("noted")
    return done


async def extend_trial(session: AsyncSession, org_id: uuid.UUID, *, days: int, admin_id: uuid.UUID,
                       idempotency: Idempotency | None = None) -> Command:
    """Accept a trial extension for the organization (a `billing` command; billing's rules refuse).

    A retried request with the same Idempotency-Key answers the first command before any rule runs, as on
    the tenant side: without it, a retry after the first extension finished would extend the trial again.
    """
    if await repository.customer(session, org_id) is None:
        raise CustomerNotFound("no such organization")
    earlier = await commands.replay(session, org_id, None, idempotency)
    if earlier is not None:
        return earlier
    return await trial_extension.request_extension(session, org_id, days=days, admin_id=admin_id,
                                                   idempotency=idempotency)


async def command(session: AsyncSession, command_id: uuid.UUID) -> Command:
    """Any organization's command, by id (system scope): how an admin follows what they started."""
    return await commands.get(session, command_id)
