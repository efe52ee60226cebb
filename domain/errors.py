"""The root of every error the domain raises on purpose.

Each capability derives its own base from `DomainError`, and each concrete
error carries the HTTP status and machine-readable code the edge answers
with. Third-party errors are turned into these at the adapter.
"""

from __future__ import annotations

from typing import Any


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one shape of every error the platform answers, over HTTP and at the relay's websocket handshake."""
    return {"error": {"code": code, "message": message, "details": details}}


class DomainError(Exception):
    status_code: int = 400
    code: str = "bad_request"
    # True for refusals whose side effects must be committed before raising.
    keeps_changes: bool = False

    def __init__(self, message: str, *, details: Any = None, code: str | None = None,
                 status_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code


class NotFound(DomainError):
    """Also what another tenant's id looks like: we never say it exists."""

    status_code = 404
    code = "not_found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"


class Forbidden(DomainError):
    status_code = 403
    code = "forbidden"


class Unauthorized(DomainError):
    status_code = 401
    code = "unauthorized"


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid_input"


class RateLimited(DomainError):
    """Too many requests of one kind; `retry_after` seconds until the window resets.

    Its headers are Retry-After and the IETF RateLimit fields (draft-ietf-httpapi-ratelimit-headers):
    `RateLimit: "<policy>";r=0;t=<seconds>` always, `RateLimit-Policy: "<policy>";q=<requests>;w=<seconds>`
    when the limit is known (`limit`, `window`).
    """

    status_code = 429
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after: int, details: Any = None, code: str | None = None,
                 policy: str | None = None, limit: int | None = None, window: int | None = None):
        super().__init__(message, details=details, code=code)
        self.retry_after = retry_after
        self.policy, self.limit, self.window = policy or self.code, limit, window

    @property
    def headers(self) -> dict[str, str]:
        headers = {"Retry-After": str(self.retry_after), "RateLimit": f'"{self.policy}";r=0;t={self.retry_after}'}
        if self.limit is not None and self.window is not None:
            headers["RateLimit-Policy"] = f'"{self.policy}";q={self.limit};w={self.window}'
        return headers
