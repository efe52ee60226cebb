"""The admin guard and the audit log's one writer.

`provide_admin` (dependency `admin`) checks ADMIN_ALLOWED_NETWORKS and verifies
the admin bearer token (no I/O). Calling it, `admin(permission)`, is the only
way an admin handler reaches the database: it opens a system-scoped
transaction, checks in one query that the session is live and the admin
enabled, checks the permission, and yields. The audit row is written by this
same block, from the action the route declares (`opt=audit(...)`), not by the
handler: on success inside the request's transaction just before it commits
(a change never commits without its row), on failure in a transaction of its
own after the rollback (a refused or failed request still leaves its row).
`audited` does the same for the public login steps.
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from domain.admin import audit as audit_log
from domain.admin.errors import NetworkNotAllowed
from domain.admin.models import Admin, AdminPrincipal, AuditEntry
from domain.admin.service import AdminService
from domain.db import Database
from domain.errors import DomainError
from edge.client_ip import client_ip as trusted_client_ip
from edge.auth import bearer_token
from objecta.settings import Settings

log = logging.getLogger("edge.admin")
MAX_HEADER = 300  # what the audit log keeps of a user agent or request id


@dataclass(frozen=True)
class Audited:
    """What a route's audit rows say: the action, and which path parameters name the resource and organization."""

    action: str
    resource_type: str | None = None
    resource_param: str | None = None
    org_param: str | None = None


def audit(action: str, resource_type: str | None = None, *, resource: str | None = None,
          org: str | None = None) -> dict[str, Audited]:
    """A route's `opt`: `@get(..., opt=audit("customers.read", "organization", resource="org_id", org="org_id"))`."""
    return {"audit": Audited(action, resource_type, resource, org)}


def client_ip(request: Request) -> str | None:
    # As on the tenant side: X-Forwarded-For counts only from TRUSTED_PROXIES (edge/client_ip.py), so the
    # audit log and ADMIN_ALLOWED_NETWORKS see the operator behind a trusted load balancer, and nobody
    # else can claim an allowed address.
    return trusted_client_ip(request)


def check_network(request: Request, settings: Settings) -> None:
    networks = settings.admin.allowed_networks
    if networks is None:
        return
    ip = client_ip(request)
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        address = None
    if address is None or not any(address in network for network in networks):
        raise NetworkNotAllowed("the admin console is not reachable from this network")


def new_entry(request: Request, action: str, **fields: Any) -> AuditEntry:
    request_id = (request.headers.get("x-request-id") or "")[:MAX_HEADER].replace("\x00", "") or str(uuid.uuid4())
    return AuditEntry(action=action, ip=client_ip(request),
                      user_agent=(request.headers.get("user-agent") or "")[:MAX_HEADER].replace("\x00", "") or None,
                      request_id=request_id, **fields)


def _failed(entry: AuditEntry, error: BaseException) -> None:
    if isinstance(error, DomainError):
        entry.outcome = "denied" if error.status_code in (401, 403, 429) else "failed"
        entry.status_code = error.status_code
        entry.details = {**entry.details, "error": error.code}
    else:
        entry.outcome, entry.status_code = "error", 500
        entry.details = {**entry.details, "error": type(error).__name__}


async def write(db: Database, entry: AuditEntry) -> None:
    """The audit row of a failed request, in a transaction of its own."""
    async with db.transaction(system=True) as session:
        await audit_log.record(session, entry)


@asynccontextmanager
async def audited(db: Database, request: Request, action: str, **fields: Any) -> AsyncIterator[AuditEntry]:
    """Audit a block that opens its own transactions (the login steps): one row, whatever happens."""
    entry = new_entry(request, action, **fields)
    try:
        yield entry
    except BaseException as error:
        _failed(entry, error)
        raise
    finally:
        await write(db, entry)


class AdminCaller:
    """The admin making this request, ready to open the request's audited transaction."""

    def __init__(self, db: Database, service: AdminService, request: Request, principal: AdminPrincipal):
        self.db, self.service, self.request, self.principal = db, service, request, principal

    def _entry(self) -> AuditEntry:
        spec: Audited = self.request.route_handler.opt["audit"]  # every admin route declares one (a test checks)
        params = self.request.path_params
        resource = params.get(spec.resource_param) if spec.resource_param else None
        org = params.get(spec.org_param) if spec.org_param else None
        return new_entry(self.request, spec.action, admin_id=self.principal.admin_id, resource_type=spec.resource_type,
                         resource_id=str(resource) if resource is not None else None,
                         org_id=org if isinstance(org, uuid.UUID) else None)

    @asynccontextmanager
    async def __call__(self, *permissions: str) -> AsyncIterator[tuple[AsyncSession, Admin, AuditEntry]]:
        """The request's one transaction (system scope), audited, after checking every permission named;
        the handler may enrich the entry (an organization learnt from a ticket, say)."""
        entry = self._entry()
        try:
            async with self.db.transaction(system=True) as session:
                admin = await self.service.authorize(session, self.principal, *permissions)
                entry.admin_email = admin.email
                yield session, admin, entry
                entry.status_code = entry.status_code or 200
                await audit_log.record(session, entry)
        except BaseException as error:
            _failed(entry, error)
            try:
                await write(self.db, entry)
            except Exception:
                log.exception("could not write the audit row of a failed admin request")
            raise


def provide_admin(request: Request, db: Database, admin_service: AdminService, settings: Settings) -> AdminCaller:
    """Dependency `admin`: the network check and the admin token (no I/O yet)."""
    check_network(request, settings)
    return AdminCaller(db, admin_service, request, admin_service.principal(bearer_token(request)))
