"""Agents with their conversations and messages (the existing services, minimal)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from litestar import Request, Response, Router, delete, get, patch, post
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from domain.agents import service as agents
from domain.agents.errors import AgentNotFound, ConversationNotFound, SimulatedModelUnavailable
from domain.billing.limits import PlanLimits
from domain.billing.errors import OrganizationRestricted, PlanLimitReached
from domain.commands.errors import IdempotencyKeyReused
from domain.errors import InvalidInput
from edge.auth import Tenant
from edge.ratelimits import rate_limited
from objecta.settings import Settings
from edge.routes.commands import Accepted, IdempotencyKey, accept_command
from edge.schemas import Body, Clean, Cursor, Limit, Name, Text, out

Model = Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=100)]


class AgentCreate(Body):
    name: Name
    model: Model
    description: Text = ""
    instructions: Text = ""


class AgentUpdate(Body):
    name: Name | None = None
    model: Model | None = None
    description: Text | None = None
    instructions: Text | None = None


class AgentOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    model: str
    description: str
    instructions: str
    status: str
    version: int
    deployed_version: int | None
    created_at: datetime
    updated_at: datetime


class AgentPage(msgspec.Struct):
    items: list[AgentOut]
    next_cursor: str | None


class ConversationCreate(Body):
    title: Annotated[str, Clean, msgspec.Meta(max_length=200)] = ""


class ConversationOut(msgspec.Struct):
    id: uuid.UUID
    agent_id: uuid.UUID
    title: str
    created_at: datetime


class ConversationPage(msgspec.Struct):
    items: list[ConversationOut]
    next_cursor: str | None


class MessageCreate(Body):
    content: Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=100_000)]
    role: Literal["user", "assistant", "system"] = "user"


class MessageOut(msgspec.Struct):
    id: uuid.UUID
    conversation_id: uuid.UUID
    role: str
    content: str
    created_at: datetime


class MessagePage(msgspec.Struct):
    items: list[MessageOut]
    next_cursor: str | None


@post("/", status_code=HTTP_201_CREATED, summary="Create an agent (a draft)",
      raises=[OrganizationRestricted, PlanLimitReached, SimulatedModelUnavailable])
async def create_agent(tenant: Tenant, plan_limits: PlanLimits, settings: Settings, data: AgentCreate) -> AgentOut:
    async with tenant("agents.manage") as (session, member):
        agent = await agents.create_agent(session, member.principal.org_id, name=data.name, model=data.model,
                                          limits=plan_limits, simulated_models=settings.agents.simulated_models,
                                          description=data.description, instructions=data.instructions)
    return out(agent, AgentOut)


@get("/", summary="List agents, newest first", raises=[InvalidInput])
async def list_agents(tenant: Tenant, cursor: Cursor = None, limit: Limit = 50) -> AgentPage:
    async with tenant("agents.read") as (session, member):
        page = await agents.list_agents(session, member.principal.org_id, cursor, limit)
    return out(page, AgentPage)


@get("/{agent_id:uuid}", summary="Get an agent", raises=[AgentNotFound])
async def get_agent(tenant: Tenant, agent_id: uuid.UUID) -> AgentOut:
    async with tenant("agents.read") as (session, _):
        agent = await agents.get_agent(session, agent_id)
    return out(agent, AgentOut)


@patch("/{agent_id:uuid}", summary="Edit an agent (a new version)", raises=[AgentNotFound, SimulatedModelUnavailable])
async def update_agent(tenant: Tenant, settings: Settings, agent_id: uuid.UUID, data: AgentUpdate) -> AgentOut:
    async with tenant("agents.manage") as (session, _):
        agent = await agents.update_agent(session, agent_id, msgspec.structs.asdict(data),
                                          simulated_models=settings.agents.simulated_models)
    return out(agent, AgentOut)


@delete("/{agent_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Delete an agent and its conversations",
        raises=[AgentNotFound])
async def delete_agent(tenant: Tenant, agent_id: uuid.UUID) -> None:
    async with tenant("agents.manage") as (session, _):
        await agents.delete_agent(session, agent_id)


@post("/{agent_id:uuid}/deploy", status_code=202, summary="Deploy the agent's current version (a command)",
      raises=[AgentNotFound, OrganizationRestricted, IdempotencyKeyReused])
async def deploy_agent(request: Request, tenant: Tenant, plan_limits: PlanLimits, agent_id: uuid.UUID,
                       idempotency_key: IdempotencyKey = None) -> Response[Accepted]:
    async def submit(session, member, idempotency):
        return await agents.request_deploy(session, agent_id, user_id=member.principal.user_id, limits=plan_limits,
                                           idempotency=idempotency)
    return await accept_command(request, tenant, "agents.deploy", idempotency_key, None, submit,
                                also=lambda org_id: (plan_limits.may_grow_read(org_id), agents.deploy_read(agent_id)))


class AgentErrorCreate(Body):
    message: Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=5000)]
    code: Annotated[str, Clean, msgspec.Meta(min_length=1, max_length=100)] = "runtime_error"


class AgentErrorOut(msgspec.Struct):
    id: uuid.UUID
    agent_id: uuid.UUID
    code: str
    message: str
    created_at: datetime


@post("/{agent_id:uuid}/errors", status_code=HTTP_201_CREATED,
      summary="Record an error the agent hit; its managers are notified", raises=[AgentNotFound],
      # Each one emails the agent's managers: bounded per person and per agent (issue 14, finding 5).
      opt=rate_limited(("agent_errors_per_person", "person"), ("agent_errors_per_agent", "path:agent_id")))
async def report_error(tenant: Tenant, agent_id: uuid.UUID, data: AgentErrorCreate) -> AgentErrorOut:
    async with tenant("agents.manage", also=lambda _: (agents.error_read(agent_id),)) as (session, _):
        error = await agents.record_error(session, agent_id, code=data.code, message=data.message)
    return out(error, AgentErrorOut)


@post("/{agent_id:uuid}/conversations", status_code=HTTP_201_CREATED, summary="Start a conversation",
      raises=[AgentNotFound])
async def create_conversation(tenant: Tenant, agent_id: uuid.UUID, data: ConversationCreate) -> ConversationOut:
    async with tenant("conversations.write") as (session, _):
        conversation = await agents.create_conversation(session, agent_id, data.title)
    return out(conversation, ConversationOut)


@get("/{agent_id:uuid}/conversations", summary="List an agent's conversations, newest first",
     raises=[AgentNotFound, InvalidInput])
async def list_conversations(tenant: Tenant, agent_id: uuid.UUID, cursor: Cursor = None,
                             limit: Limit = 50) -> ConversationPage:
    async with tenant("agents.read") as (session, _):
        page = await agents.list_conversations(session, agent_id, cursor, limit)
    return out(page, ConversationPage)


@post("/{agent_id:uuid}/conversations/{conversation_id:uuid}/messages", status_code=HTTP_201_CREATED,
      summary="Add a message to a conversation", raises=[AgentNotFound, ConversationNotFound])
async def add_message(tenant: Tenant, plan_limits: PlanLimits, agent_id: uuid.UUID, conversation_id: uuid.UUID,
                      data: MessageCreate) -> MessageOut:
    async with tenant("conversations.write") as (session, _):
        message = await agents.add_message(session, agent_id, conversation_id, role=data.role,
                                           content=data.content, limits=plan_limits)
    return out(message, MessageOut)


@get("/{agent_id:uuid}/conversations/{conversation_id:uuid}/messages",
     summary="List a conversation's messages, oldest first", raises=[AgentNotFound, ConversationNotFound, InvalidInput])
async def list_messages(tenant: Tenant, agent_id: uuid.UUID, conversation_id: uuid.UUID,
                        cursor: Cursor = None, limit: Limit = 50) -> MessagePage:
    async with tenant("agents.read") as (session, _):
        page = await agents.list_messages(session, agent_id, conversation_id, cursor, limit)
    return out(page, MessagePage)


agents_router = Router("/v1/agents", tags=["agents"], route_handlers=[
    create_agent, list_agents, get_agent, update_agent, delete_agent, deploy_agent, report_error, create_conversation,
    list_conversations, add_message, list_messages])
