from domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, RateLimited, Unauthorized


class AdminError(DomainError):
    """Base of the admin capability."""


class AdminInvalidCredentials(Unauthorized, AdminError):
    """Wrong email or password; the same answer for both (and for a disabled admin)."""

    code = "invalid_credentials"


class InvalidMfaCode(Unauthorized, AdminError):
    """A wrong, already used or expired code (TOTP or recovery)."""

    code = "invalid_mfa_code"


class AdminTokenInvalid(Unauthorized, AdminError):
    """Not an admin token of this realm (a tenant token lands here too), or expired."""

    code = "invalid_token"


class AdminSessionEnded(Unauthorized, AdminError):
    """The session was revoked or expired, or the admin was disabled."""

    code = "session_revoked"


class AdminRefreshReused(AdminSessionEnded):
    """An already-rotated refresh token came back: the session is revoked, and that change commits."""

    code = "refresh_token_reused"
    keeps_changes = True


class TooManyAttempts(RateLimited, AdminError):
    code = "too_many_attempts"


class AdminForbidden(Forbidden, AdminError):
    """The admin's role does not hold the permission."""

    code = "forbidden"


class NetworkNotAllowed(Forbidden, AdminError):
    code = "network_not_allowed"


class AdminExists(Conflict, AdminError):
    code = "admin_exists"


class CustomerNotFound(NotFound, AdminError):
    code = "customer_not_found"


class AdminSessionNotFound(NotFound, AdminError):
    code = "session_not_found"


class AdminNotAssignable(InvalidInput, AdminError):
    """Tickets are assigned to an existing, enabled admin who works tickets."""

    code = "admin_not_assignable"


class AdminNotFound(NotFound, AdminError):
    code = "admin_not_found"
