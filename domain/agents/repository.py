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


async def get_agent(session: AsyncSession, agent_id: uuid.UUID, *, for_update: bool = False) -> Agent | None:
    query = select(Agent).where(Agent.id == agent_id)
    if for_update:
        query = query.with_for_update()
    return (await session.execute(query)).scalar_one_or_none()


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
