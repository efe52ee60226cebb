from domain.errors import Conflict, DomainError, Forbidden, RateLimited, Unauthorized


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


class TooManyAttempts(RateLimited, AccountError):
    """Too many failed logins for one account: refused, right password or not, until the lock passes.
    The same answer whether or not the account exists."""

    code = "too_many_attempts"


class EmailNotVerified(Forbidden, AccountError):
    """The account's address is not verified yet: it may not make us email others (invitations...)."""

    code = "email_not_verified"


class AccountTokenInvalid(AccountError):
    """An emailed link (verify, reset, "this wasn't me") that is unknown, used, replaced or expired."""

    status_code = 410
    code = "link_invalid"


class WrongPassword(Forbidden, AccountError):
    """Changing the password (or the email) needs the current password."""

    code = "wrong_password"


class NoOrganization(Forbidden, AccountError):
    """Signed in with no organization: only creating one, accepting an invitation and the account's own
    routes (password, email, logout) work."""

    code = "no_organization"
