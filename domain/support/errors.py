from domain.errors import Conflict, DomainError, NotFound


class SupportError(DomainError):
    """Base of the support capability."""


class TicketNotFound(NotFound, SupportError):
    code = "ticket_not_found"


class TicketClosed(Conflict, SupportError):
    """A closed ticket takes no more replies: open a new one."""

    code = "ticket_closed"


class InvalidTransition(Conflict, SupportError):
    code = "invalid_status_transition"
