"""One error handler: every error leaves as {"error": {"code", "message", "details"}}.

Framework errors (malformed JSON, validation, 404 route, 405, 413) are
rewritten into the same shape, so a frontend parses one format only.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.exceptions
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotAuthorizedException, ValidationException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from domain.errors import DomainError, error_body

log = logging.getLogger("edge.errors")

CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 422: "invalid_input",
    429: "rate_limited", 503: "unavailable",
}


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> Response:
    return Response(error_body(code, message, details), status_code=status, headers=headers)


def domain_error(_: Request, error: DomainError) -> Response:
    headers = dict(getattr(error, "headers", None) or {})  # e.g. Retry-After on a 429
    if error.status_code == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(error.status_code, error.code, error.message, error.details, headers or None)


def http_error(_: Request, error: HTTPException) -> Response:
    status = error.status_code
    if status >= 500:
        log.error("server error: %s", error.detail, exc_info=error)
        return error_response(status, "internal_error", "internal server error")
    if isinstance(error, ValidationException):
        return error_response(400, "validation_failed", _validation_message(error), error.extra)
    if status == 400:
        # What remains at 400 is a body the JSON decoder could not read.
        return error_response(400, "malformed_json", f"request body is not valid JSON: {error.detail}")
    if isinstance(error, NotAuthorizedException):
        return error_response(401, "unauthorized", error.detail, None, {"WWW-Authenticate": "Bearer"})
    return error_response(status, CODES.get(status, "error"), str(error.detail), error.extra or None,
                          getattr(error, "headers", None))


def _validation_message(error: ValidationException) -> str:
    extra = error.extra
    if isinstance(extra, list) and extra:
        first = extra[0]
        if isinstance(first, dict) and first.get("message"):
            where = first.get("key") or first.get("source") or ""
            message = first["message"]
            if "u0000]*$" in message:  # edge.schemas.NO_NUL: msgspec would quote the regex
                message = "must not contain the character U+0000 (NUL)"
            return message + (f" ({where})" if where else "")
    return str(error.detail)


def unexpected_error(request: Request, error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=error)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal server error")


HANDLERS = {DomainError: domain_error, HTTPException: http_error, Exception: unexpected_error}


def dependency_unavailable(_: Request, error: Exception) -> Response:
    """Postgres or Redis did not answer: 503 with Retry-After, not a 500, because nothing is wrong with the
    request and the same request will succeed once the dependency is back (with an Idempotency-Key, safely)."""
    dependency = "database" if isinstance(error, SQLAlchemyError) else "redis"
    log.warning("%s unreachable: %s: %s", dependency, type(error).__name__, str(error).splitlines()[0][:200])
    return error_response(503, "unavailable", f"the service is briefly unavailable ({dependency} unreachable); "
                          "try again in a few seconds", {"dependency": dependency}, {"Retry-After": RETRY_AFTER})


RETRY_AFTER = "5"
# Losing the database or Redis mid-request: connection refused or reset, a connect or socket timeout, or the
# pool unable to hand out a connection in time. (Serialization failures and deadlocks are OperationalErrors
# too: "try again" is the right answer to them as well.)
UNREACHABLE = (OperationalError, InterfaceError, PoolTimeout, redis.exceptions.ConnectionError,
               redis.exceptions.TimeoutError)
HANDLERS.update(dict.fromkeys(UNREACHABLE, dependency_unavailable))
