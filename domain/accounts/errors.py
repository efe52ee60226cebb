from domain.errors import Conflict, DomainError, Forbidden, Unauthorized


class AccountError(DomainError):
    """Base of the accounts capability."""


class EmailTaken(Conflict, AccountError):
    code = "email_taken"


class InvalidCredentials(Unauthorized, AccountError):
    """Wrong email or password; deliberately the same answer for both."""

    code = "invalid_credentials"


class InvalidToken(Unauthorized, AccountError):
    code = "invalid_token"


class WeakPassword(AccountError):
    status_code = 422
    code = "weak_password"


class RefreshTokenReused(InvalidToken):
    """An already-rotated refresh token came back: its whole family is revoked."""

    code = "refresh_token_reused"
    keeps_changes = True


class OrganizationSuspended(Forbidden, AccountError):
    """The admin realm suspended the organization: every tenant route refuses its members."""

    code = "organization_suspended"
