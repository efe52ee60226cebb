"""All SQL of the agents capability. Row-level security scopes every query
to the session's organization; the explicit org filters below are for the
planner (they match the indexes), not for safety."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.agents.models import Agent, Conversation, Message
from domain.db import FirstRead, read_rows, write_at_commit


async def get_agent(session: AsyncSession, agent_id: uuid.UUID, *, for_update: bool = False) -> Agent | None:
    query = select(Agent).where(Agent.id == agent_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


_NAMED = "select org_id, name from agents where id = %(id)s"


def named_read(agent_id: uuid.UUID) -> FirstRead:
    """An agent's organization and name, as a read the request's transaction can begin with."""
    return FirstRead(_NAMED, (("id", agent_id),))


async def named(session: AsyncSession, agent_id: uuid.UUID) -> tuple[uuid.UUID, str] | None:
    rows = await read_rows(session, named_read(agent_id))
    return (rows[0][0], rows[0][1]) if rows else None


# A deploy's agent: locked, so that concurrent deploys of one agent queue behind each other and a worker
# finishing the previous one cannot interleave with the status written below.
_DEPLOYABLE = "select org_id, version, status from agents where id = %(id)s for update"


def deployable_read(agent_id: uuid.UUID) -> FirstRead:
    """The agent a deploy locks and reads, as a read the request's transaction can begin with."""
    return FirstRead(_DEPLOYABLE, (("id", agent_id),))


async def lock_for_deploy(session: AsyncSession, agent_id: uuid.UUID) -> tuple[uuid.UUID, int, str] | None:
    """The agent's organization, version and status, its row locked until the transaction ends."""
    rows = await read_rows(session, deployable_read(agent_id))
    return (rows[0][0], rows[0][1], rows[0][2]) if rows else None


def mark_deploying_at_commit(session: AsyncSession, agent_id: uuid.UUID, now: datetime) -> None:
    """`deploying`, written with the transaction's COMMIT (the row is locked since `lock_for_deploy`)."""
    write_at_commit(session, "update agents set status = 'deploying', updated_at = %(now)s where id = %(id)s",
                    {"id": agent_id, "now": now})


def insert_error_at_commit(session: AsyncSession, values: dict) -> None:
    """The error's row, written in the round trip of the transaction's COMMIT: nothing reads it back."""
    write_at_commit(session, "insert into agent_errors (id, org_id, agent_id, code, message, created_at) "
                    "values (%(id)s, %(org_id)s, %(agent_id)s, %(code)s, %(message)s, %(created_at)s)", values)


async def list_agents(session: AsyncSession, org_id: uuid.UUID, cursor: str | None,
                      limit: int) -> pagination.Page[Agent]:
    query = pagination.newest_first(select(Agent).where(Agent.org_id == org_id), Agent, cursor, limit)
    return pagination.page(list((await session.execute(query)).scalars()), limit)


async def delete_agent(session: AsyncSession, agent_id: uuid.UUID) -> bool:
    result = await session.execute(delete(Agent).where(Agent.id == agent_id))
    return result.rowcount > 0


async def get_conversation(session: AsyncSession, agent_id: uuid.UUID,
                           conversation_id: uuid.UUID) -> Conversation | None:
    query = select(Conversation).where(Conversation.id == conversation_id, Conversation.agent_id == agent_id)
    return (await session.execute(query)).scalar_one_or_none()


async def list_conversations(session: AsyncSession, org_id: uuid.UUID, agent_id: uuid.UUID, cursor: str | None,
                             limit: int) -> pagination.Page[Conversation]:
    query = select(Conversation).where(Conversation.org_id == org_id, Conversation.agent_id == agent_id)
    query = pagination.newest_first(query, Conversation, cursor, limit)
    return pagination.page(list((await session.execute(query)).scalars()), limit)


async def list_messages(session: AsyncSession, org_id: uuid.UUID, conversation_id: uuid.UUID, cursor: str | None,
                        limit: int) -> pagination.Page[Message]:
    query = select(Message).where(Message.org_id == org_id, Message.conversation_id == conversation_id)
    query = pagination.oldest_first(query, Message, cursor, limit)
    return pagination.page(list((await session.execute(query)).scalars()), limit)


async def lock_agents(session: AsyncSession, org_id: uuid.UUID) -> None:
    """Serialize agent creation of one organization, so two creates cannot both take the last one allowed."""
    await session.execute(text("select pg_advisory_xact_lock(hashtext('agents'), hashtext(:org))"),
                          {"org": str(org_id)})


async def count_agents(session: AsyncSession, org_id: uuid.UUID) -> int:
    return (await session.execute(select(func.count()).select_from(Agent).where(Agent.org_id == org_id))).scalar_one()


async def count_messages_since(session: AsyncSession, org_id: uuid.UUID, since: datetime) -> int:
    query = select(func.count()).select_from(Message).where(Message.org_id == org_id, Message.created_at >= since)
    return (await session.execute(query)).scalar_one()
