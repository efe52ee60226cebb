from domain.errors import DomainError, InvalidInput, NotFound


class NotificationError(DomainError):
    """Base of the notifications capability."""


class NotificationNotFound(NotFound, NotificationError):
    code = "notification_not_found"


class UnknownNotificationType(InvalidInput, NotificationError):
    code = "unknown_notification_type"


class UnknownChannel(InvalidInput, NotificationError):
    code = "unknown_channel"
