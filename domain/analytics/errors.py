from datetime import date

from domain.errors import DomainError, Forbidden, NotFound, Unauthorized


class AnalyticsError(DomainError):
    """Base of the analytics capability."""


class InvalidEvents(AnalyticsError):
    """A batch refused whole: `details.events` names each bad event by index and field."""

    status_code = 422
    code = "invalid_events"


class InvalidPeriod(AnalyticsError):
    """A report's `from`/`to` out of order or longer than the longest period served."""

    status_code = 422
    code = "invalid_period"


class InvalidApiKey(Unauthorized, AnalyticsError):
    """Unknown or revoked: deliberately one answer for both."""

    code = "invalid_api_key"


class ApiKeyNotAllowed(Forbidden, AnalyticsError):
    """An organization API key only sends events; every other route wants a person's token."""

    code = "api_key_not_allowed"


class ApiKeyNotFound(NotFound, AnalyticsError):
    code = "api_key_not_found"


class PartitionMissing(AnalyticsError):
    """A batch holds events of a month without a partition: nothing was stored; trying again creates it.
    Seen by a client only if that failed too: a 503, since a retry is the remedy."""

    status_code = 503
    code = "unavailable"

    def __init__(self, months: list[date]):
        super().__init__("no partition for " + ", ".join(m.isoformat() for m in months))
        self.months = months
