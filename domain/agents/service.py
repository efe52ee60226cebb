"""Agents, their conversations and messages (the existing services, minimal)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from domain import pagination
from domain.agents import repository
from domain.agents.errors import AgentNotFound, ConversationNotFound, SimulatedModelUnavailable
from domain.agents.models import Agent, AgentError, Conversation, Message
from domain.agents.limits import AgentLimits
from domain.agents.runtime import AgentRuntime, AgentSpec, is_simulated
from domain.analytics import service as analytics
from domain.analytics.models import AGENT_ERROR, CONVERSATION, MESSAGE
from domain.analytics.models import DEPLOY as DEPLOYED
from domain.commands import service as commands
from domain.commands.models import Command, CommandKind, Idempotency
from domain.db import FirstRead
from domain.models import utcnow
from domain.notifications import service as notifications

EDITABLE = ("name", "description", "model", "instructions")


def check_model(model: str, *, simulated_models: bool) -> None:
    """Simulated models only where the deployment allows them (SIMULATED_MODELS; never in production)."""
    if is_simulated(model) and not simulated_models:
        raise SimulatedModelUnavailable(f"model {model!r} is a simulated model, which this deployment does not offer",
                                        details={"field": "model"})


async def create_agent(session: AsyncSession, org_id: uuid.UUID, *, name: str, model: str, limits: AgentLimits,
                       simulated_models: bool, description: str = "", instructions: str = "") -> Agent:
    """A new agent starts as a draft; deploying it is a command. The plan's agent limit must allow one more,
    and the organization must not be restricted for a failed payment."""
    check_model(model, simulated_models=simulated_models)
    await limits.check_may_grow(session, org_id)
    await limits.check_agent_available(session, org_id)
    agent = Agent(id=uuid.uuid4(), org_id=org_id, name=name.strip(), model=model, description=description,
                  instructions=instructions, status="draft", version=1)
    session.add(agent)
    await session.flush()
    return agent


async def get_agent(session: AsyncSession, agent_id: uuid.UUID, *, for_update: bool = False) -> Agent:
    agent = await repository.get_agent(session, agent_id, for_update=for_update)
    if agent is None:
        raise AgentNotFound("agent not found")
    return agent


async def list_agents(session: AsyncSession, org_id: uuid.UUID, cursor: str | None,
                      limit: int) -> pagination.Page[Agent]:
    return await repository.list_agents(session, org_id, cursor, limit)


async def update_agent(session: AsyncSession, agent_id: uuid.UUID, changes: dict[str, Any], *,
                       simulated_models: bool) -> Agent:
    """Edit an agent's definition; each edit is a new version to deploy."""
    if changes.get("model") is not None:
        check_model(changes["model"], simulated_models=simulated_models)
    agent = await get_agent(session, agent_id, for_update=True)
    changed = False
    for field in EDITABLE:
        if field in changes and changes[field] is not None and getattr(agent, field) != changes[field]:
            setattr(agent, field, changes[field])
            changed = True
    if changed:
        agent.version += 1
    await session.flush()
    return agent


async def delete_agent(session: AsyncSession, agent_id: uuid.UUID) -> None:
    if not await repository.delete_agent(session, agent_id):
        raise AgentNotFound("agent not found")


async def create_conversation(session: AsyncSession, agent_id: uuid.UUID, title: str = "") -> Conversation:
    agent = await get_agent(session, agent_id)
    conversation = Conversation(id=uuid.uuid4(), org_id=agent.org_id, agent_id=agent.id, title=title)
    session.add(conversation)
    await session.flush()
    await analytics.emit(session, agent.org_id, CONVERSATION, subject=conversation.id, agent_id=agent.id)
    return conversation


async def list_conversations(session: AsyncSession, agent_id: uuid.UUID, cursor: str | None,
                             limit: int) -> pagination.Page[Conversation]:
    agent = await get_agent(session, agent_id)
    return await repository.list_conversations(session, agent.org_id, agent.id, cursor, limit)


async def get_conversation(session: AsyncSession, agent_id: uuid.UUID, conversation_id: uuid.UUID) -> Conversation:
    conversation = await repository.get_conversation(session, agent_id, conversation_id)
    if conversation is None:
        raise ConversationNotFound("conversation not found")
    return conversation


async def add_message(session: AsyncSession, agent_id: uuid.UUID, conversation_id: uuid.UUID, *,
                      role: str, content: str, limits: AgentLimits) -> Message:
    """Record a message and count it against the monthly quota.

    Generating the agent's reply belongs to the runtime, not this backend.
    """
    conversation = await get_conversation(session, agent_id, conversation_id)
    message = Message(id=uuid.uuid4(), org_id=conversation.org_id, conversation_id=conversation.id,
                      role=role, content=content)
    session.add(message)
    await session.flush()
    await limits.record_message(session, conversation.org_id)
    await analytics.emit(session, conversation.org_id, MESSAGE, subject=message.id, agent_id=agent_id)
    return message


async def lock_agent_count(session: AsyncSession, org_id: uuid.UUID) -> None:
    """Serialize agent creation of one organization until commit, so a limit check and its create go together."""
    await repository.lock_agents(session, org_id)


async def count_agents(session: AsyncSession, org_id: uuid.UUID) -> int:
    return await repository.count_agents(session, org_id)


async def count_messages_since(session: AsyncSession, org_id: uuid.UUID, since: datetime) -> int:
    """Messages of the organization's conversations created since then (all agents)."""
    return await repository.count_messages_since(session, org_id, since)


async def list_messages(session: AsyncSession, agent_id: uuid.UUID, conversation_id: uuid.UUID,
                        cursor: str | None, limit: int) -> pagination.Page[Message]:
    conversation = await get_conversation(session, agent_id, conversation_id)
    return await repository.list_messages(session, conversation.org_id, conversation.id, cursor, limit)


DEPLOY = CommandKind("agent.deploy", queue="agents", actor="agents.deploy")


def deploy_read(agent_id: uuid.UUID) -> FirstRead:
    """What `request_deploy` reads first (the agent, locked), for the request's transaction to begin with."""
    return repository.deployable_read(agent_id)


async def request_deploy(session: AsyncSession, agent_id: uuid.UUID, *, user_id: uuid.UUID, limits: AgentLimits,
                         idempotency: Idempotency | None) -> Command:
    """Accept a deploy of the agent's current version; a worker carries it out.

    The command path's hot route: the agent is locked and read with the transaction's BEGIN
    (`deploy_read`), and its `deploying` status goes out with the COMMIT, beside the command's row."""
    found = await repository.lock_for_deploy(session, agent_id)
    if found is None:
        raise AgentNotFound("agent not found")
    org_id, version, status = found
    await limits.check_may_grow(session, org_id)
    command = await commands.submit(session, DEPLOY, org_id=org_id, user_id=user_id, payload={
        "agent_id": str(agent_id), "version": version}, idempotency=idempotency)
    if status != "deploying":
        repository.mark_deploying_at_commit(session, agent_id, utcnow())
    return command


async def deploy(session: AsyncSession, command: Command, runtime: AgentRuntime) -> dict[str, Any]:
    """The worker's side: hand the version to the runtime and record it as deployed."""
    agent = await get_agent(session, uuid.UUID(command.payload["agent_id"]), for_update=True)
    version = command.payload["version"]
    if agent.deployed_version == version and agent.status == "deployed":
        return {"agent_id": str(agent.id), "version": version, "already_deployed": True}
    deployment = await runtime.deploy(
        AgentSpec(str(agent.id), version, agent.model, agent.instructions), attempt=command.attempts)
    agent.status = "deployed"
    agent.deployed_version = version
    await session.flush()
    await analytics.emit(session, agent.org_id, DEPLOYED, subject=f"{agent.id}:{version}", agent_id=agent.id)
    notifications.notify(session, agent.org_id, "agent.deployed",
                         {"agent_id": str(agent.id), "agent_name": agent.name, "version": version})
    return {"agent_id": str(agent.id), "version": version, "endpoint": deployment.endpoint}


async def deploy_failed(session: AsyncSession, command: Command) -> None:
    """A deploy that failed for good leaves the agent marked failed (until the next deploy)."""
    agent = await repository.get_agent(session, uuid.UUID(command.payload["agent_id"]), for_update=True)
    if agent is not None and agent.status == "deploying":
        agent.status = "failed"
        await session.flush()
        notifications.notify(session, agent.org_id, "agent.error", {
            "agent_id": str(agent.id), "agent_name": agent.name, "code": "deploy_failed",
            "message": f"Deploying version {command.payload['version']} failed: {command.error}"})


def error_read(agent_id: uuid.UUID) -> FirstRead:
    """What `record_error` reads first, for the request's transaction to begin with (one round trip fewer)."""
    return repository.named_read(agent_id)


async def record_error(session: AsyncSession, agent_id: uuid.UUID, *, code: str, message: str) -> AgentError:
    """Record an error an agent hit at run time and tell the people who manage agents.

    The hot path of a running agent: the agent is read with the transaction's BEGIN (`error_read`) and
    the error's row written with its COMMIT, no ORM load or flush."""
    found = await repository.named(session, agent_id)
    if found is None:
        raise AgentNotFound("agent not found")
    org_id, name = found
    error = AgentError(id=uuid.uuid4(), org_id=org_id, agent_id=agent_id, code=code, message=message,
                       created_at=utcnow())
    repository.insert_error_at_commit(session, {column: getattr(error, column) for column in
                                                ("id", "org_id", "agent_id", "code", "message", "created_at")})
    await analytics.emit(session, org_id, AGENT_ERROR, subject=error.id, agent_id=agent_id)
    notifications.notify(session, org_id, "agent.error", {
        "agent_id": str(agent_id), "agent_name": name, "code": code, "message": message})
    return error
