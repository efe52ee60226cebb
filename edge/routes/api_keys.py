"""Organization API keys: for servers and agent runtimes sending events without a person's session."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec
from litestar import Router, delete, get, post
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from domain.analytics import keys
from domain.analytics.errors import ApiKeyNotFound
from domain.analytics.models import ApiKey
from edge.auth import Tenant
from edge.schemas import Body, Name, out


class ApiKeyCreate(Body):
    name: Name


class ApiKeyOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    prefix: str  # the key's first characters, to recognise it
    created_by: uuid.UUID | None
    created_at: datetime
    last_used_at: datetime | None  # to the minute
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyOut):
    key: str  # shown this once; only its hash is stored


class ApiKeyList(msgspec.Struct):
    items: list[ApiKeyOut]


def key_out(key: ApiKey) -> ApiKeyOut:
    return out(key, ApiKeyOut)


@post("/", status_code=HTTP_201_CREATED, summary="Create an API key (owners and admins); the key is shown once",
      description="Send it as `Authorization: Bearer obk_...` to POST /v1/events. It can do nothing else.")
async def create_key(tenant: Tenant, data: ApiKeyCreate) -> ApiKeyCreated:
    async with tenant("api_keys.manage") as (session, member):
        key, secret = await keys.create_key(session, member.principal.org_id, member.principal.user_id, data.name)
    return ApiKeyCreated(**msgspec.structs.asdict(key_out(key)), key=secret)


@get("/", summary="List the organization's API keys, newest first, with their last use")
async def list_keys(tenant: Tenant) -> ApiKeyList:
    async with tenant("api_keys.manage") as (session, member):
        found = await keys.list_keys(session, member.principal.org_id)
    return ApiKeyList([key_out(key) for key in found])


@delete("/{key_id:uuid}", status_code=HTTP_204_NO_CONTENT, summary="Revoke an API key (for good)",
        raises=[ApiKeyNotFound])
async def revoke_key(tenant: Tenant, key_id: uuid.UUID) -> None:
    async with tenant("api_keys.manage") as (session, _):
        await keys.revoke_key(session, key_id)


api_keys_router = Router("/v1/api-keys", tags=["api keys"], route_handlers=[create_key, list_keys, revoke_key])
