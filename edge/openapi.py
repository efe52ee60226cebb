"""The OpenAPI document as the true contract, derived in one place from the routes.

Litestar documents its own error shape (`{status_code, detail}`) and only the
errors it knows about. After it builds the document, `complete` rewrites every
operation from what the handler declares and what its signature shows:

- every error response is the `Error` component (`{"error": {code, message, details}}`,
  the only shape edge/errors.py answers), one entry per status, its description
  naming the codes;
- the statuses: the domain errors the handler lists in `raises=[...]`, plus what
  its shape implies (400 for parameters or a body, 413 for a body, 404 for path
  parameters, 401/403 for the `tenant` dependency, 503 when a dependency is down);
- request bodies built on `edge.schemas.Body` say `additionalProperties: false`;
- operations that take `tenant` carry the `bearer` security requirement; those that take
  `admin` (edge/admin/guard.py) the admin realm's `adminBearer`, with its 401/403 codes.

tests/edge/test_contract.py checks the result; the schemathesis run checks it
against what the edge really answers.
"""

from __future__ import annotations

from collections import defaultdict
from http import HTTPStatus
from typing import Any

from litestar import Litestar
from litestar.openapi.spec import (
    Components, OpenAPIHeader, OpenAPIMediaType, OpenAPIResponse, Operation, Reference, Schema, SecurityScheme)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.routes import HTTPRoute

from domain.accounts.errors import InvalidToken, NoOrganization, OrganizationSuspended
from domain.admin.errors import AdminForbidden, AdminSessionEnded, AdminTokenInvalid, NetworkNotAllowed
from domain.analytics.errors import ApiKeyNotAllowed
from domain.errors import Forbidden, Unauthorized
from edge.ratelimits import is_limited
from edge.schemas import Body

ERROR = "Error"
BEARER = "bearer"
ADMIN_BEARER = "adminBearer"
# What the edge answers with whatever the route (edge/errors.py and edge/auth.py).
MALFORMED = [(400, "malformed_json"), (400, "validation_failed")]
TOO_LARGE = [(413, "payload_too_large")]
NOT_FOUND = [(404, "not_found")]
AUTHENTICATED = [(401, Unauthorized.code), (401, "missing_token"), (401, InvalidToken.code), (401, "token_expired"),
                 (401, "session_revoked"), (403, Forbidden.code), (403, OrganizationSuspended.code),
                 (403, NoOrganization.code), (403, ApiKeyNotAllowed.code)]
# The admin guard: a tenant token answers `invalid_token` here (another key and audience).
ADMIN_AUTHENTICATED = [(401, "missing_token"), (401, AdminTokenInvalid.code), (401, "token_expired"),
                       (401, AdminSessionEnded.code), (403, AdminForbidden.code), (403, NetworkNotAllowed.code)]
# Codes some domain errors are raised with instead of their class's (`code=`).
ALSO_RAISED_AS = {InvalidToken: ["token_expired", "refresh_token_revoked"]}
# A limit of edge/ratelimits.py is spent (routes that declare one, and every `tenant` or `event_sender` route).
RATE_LIMITED = [(429, "rate_limited")]
# What every 429 carries (domain/errors.RateLimited): (name, required, description).
RATE_LIMIT_HEADERS = [
    ("Retry-After", True, "Seconds until the spent limit's window resets."),
    ("RateLimit", True, 'The spent limit (IETF draft-ietf-httpapi-ratelimit-headers): `"<policy>";r=0;t=<seconds>`.'),
    ("RateLimit-Policy", False, 'The limit itself: `"<policy>";q=<requests>;w=<window seconds>`.'),
]
# The database, Redis or the broker cannot be reached right now; retrying later can help.
UNAVAILABLE = [(503, "unavailable")]
# The dependencies (edge/app.py, `EdgeServices`) through which a handler reaches them.
REACHES_STORAGE = {"tenant", "admin", "event_sender", "db", "redis", "publisher", "rate_limiter", "counters"}


def error_schema() -> Schema:
    """The `Error` component: the one shape of every error this API answers."""
    return Schema(
        type=OpenAPIType.OBJECT, required=["error"], additional_properties=False,
        description="Every error response of this API.",
        properties={"error": Schema(
            type=OpenAPIType.OBJECT, required=["code", "message", "details"], additional_properties=False,
            properties={
                "code": Schema(type=OpenAPIType.STRING, description="Machine-readable: branch on this."),
                "message": Schema(type=OpenAPIType.STRING, description="Readable, fit to show to a person."),
                "details": Schema(description="What the code needs to be acted on (a field, a limit, the "
                                              "validation errors), or null."),
            })})


def complete(app: Litestar) -> None:
    """Rewrite the app's OpenAPI document (built once, here) into the contract described above."""
    document = app.openapi_schema
    components = document.components = document.components or Components()
    components.schemas = {**(components.schemas or {}), ERROR: error_schema()}
    components.security_schemes = {BEARER: SecurityScheme(
        type="http", scheme="bearer", bearer_format="JWT",
        description="The `access_token` of signup, login, refresh or invitation accept."),
        ADMIN_BEARER: SecurityScheme(
            type="http", scheme="bearer", bearer_format="JWT",
            description="The admin realm's `access_token` (`/admin/v1/auth/mfa` or `/refresh`); a tenant token "
                        "never opens an admin route, nor an admin token a tenant route (docs/admin.md).")}
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        path_item = (document.paths or {}).get(route.path_format)
        if path_item is None:
            continue
        for handler in route.route_handlers:
            for method in handler.http_methods:
                operation = getattr(path_item, method.lower(), None)
                if operation is not None and handler.include_in_schema:
                    _complete_operation(operation, handler, components)


def _complete_operation(operation: Operation, handler: Any, components: Components) -> None:
    parameters = handler.parsed_fn_signature.parameters
    # A handler given none of these reaches no database, Redis or broker (healthz, the plans list).
    errors: list[tuple[int, str]] = list(UNAVAILABLE) if REACHES_STORAGE & set(parameters) else []
    if "data" in parameters:
        errors += MALFORMED + TOO_LARGE
        _forbid_unknown_fields(operation, parameters["data"].annotation, components)
    if operation.parameters:
        errors += MALFORMED[1:]
    if any(getattr(p, "param_in", None) == "path" for p in operation.parameters or []):
        errors += NOT_FOUND  # an id that is not a uuid matches no route
    if {"tenant", "event_sender"} & set(parameters):  # a person's token (or, for events, an API key)
        errors += AUTHENTICATED
        operation.security = [{BEARER: []}]
    if "admin" in parameters:
        errors += ADMIN_AUTHENTICATED
        operation.security = [{ADMIN_BEARER: []}]
    if is_limited(handler):  # counted in Redis first: a 503 when it cannot be reached (decision 60)
        errors += RATE_LIMITED + UNAVAILABLE
    for error in handler.raises or []:
        errors += [(error.status_code, code) for code in [error.code, *ALSO_RAISED_AS.get(error, [])]]
    codes: dict[int, list[str]] = defaultdict(list)
    for status, code in errors:
        if code not in codes[status]:
            codes[status].append(code)
    success = {status: response for status, response in (operation.responses or {}).items() if int(status) < 400}
    operation.responses = {**success, **{str(status): _error_response(status, codes[status])
                                         for status in sorted(codes)}}


def _error_response(status: int, codes: list[str]) -> OpenAPIResponse:
    headers = None
    if status == 429:
        headers = {name: OpenAPIHeader(schema=Schema(type=OpenAPIType.STRING), required=required,
                                       description=description)
                   for name, required, description in RATE_LIMIT_HEADERS}
    return OpenAPIResponse(
        description=f"{HTTPStatus(status).phrase}: `error.code` is one of " + ", ".join(f"`{c}`" for c in codes),
        content={"application/json": OpenAPIMediaType(schema=Reference(ref=f"#/components/schemas/{ERROR}"))},
        headers=headers)


def _forbid_unknown_fields(operation: Operation, body_type: Any, components: Components) -> None:
    """Say what `Body` (forbid_unknown_fields) does: a field the schema does not name is a 400."""
    if not (isinstance(body_type, type) and issubclass(body_type, Body)):
        return
    body = operation.request_body
    schema = body.content["application/json"].schema if body and body.content.get("application/json") else None
    if isinstance(schema, Reference):
        schema = (components.schemas or {}).get(schema.ref.rsplit("/", 1)[-1])
    if isinstance(schema, Schema):
        schema.additional_properties = False
