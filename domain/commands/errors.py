from domain.errors import Conflict, DomainError, NotFound


class CommandError(DomainError):
    """Base of the commands capability."""


class CommandNotFound(NotFound, CommandError):
    code = "command_not_found"


class IdempotencyKeyReused(Conflict, CommandError):
    code = "idempotency_key_reused"


class CommandFailed(CommandError):
    """Raised by a command's work for a failure that retrying cannot fix.

    The message is shown to the person who sent the command, so say what
    went wrong and what they can do, in their words.
    """

    code = "command_failed"


class TransientFailure(CommandError):
    """Raised by a command's work for a failure worth retrying later (a timeout, a 503)."""

    code = "transient_failure"
