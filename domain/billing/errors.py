from domain.errors import Conflict, DomainError, InvalidInput, NotFound


class BillingError(DomainError):
    """Base of the billing capability."""


class UnknownPlan(InvalidInput, BillingError):
    code = "unknown_plan"


class AlreadySubscribed(Conflict, BillingError):
    code = "already_subscribed"


class TrialAlreadyUsed(Conflict, BillingError):
    code = "trial_already_used"


class SubscriptionNotFound(NotFound, BillingError):
    code = "subscription_not_found"


class InvalidWebhook(BillingError):
    """A webhook whose signature, timestamp or body cannot be trusted: 400, nothing stored."""

    status_code = 400
    code = "invalid_webhook"


# The payments port's errors (raised by the adapter, from the provider's own).

class PaymentError(BillingError):
    """Base of what the payments provider answered or failed to answer."""


class CardDeclined(PaymentError):
    """The card was refused; `message` is the issuer's reason, fit to show. Permanent."""

    status_code = 402
    code = "card_declined"


class PaymentRejected(PaymentError):
    """The provider refused the request itself (a 4xx other than a decline). Permanent."""

    status_code = 502
    code = "payment_rejected"


class PaymentUnavailable(PaymentError):
    """Network error, timeout, 429 or 5xx from the provider. Worth retrying."""

    status_code = 503
    code = "payment_unavailable"


class PlanUnchanged(Conflict, BillingError):
    code = "plan_unchanged"


class NothingToChange(InvalidInput, BillingError):
    code = "nothing_to_change"


class SeatsBelowPlan(InvalidInput, BillingError):
    code = "seats_below_plan"


class SeatsWithDowngrade(InvalidInput, BillingError):
    code = "seats_with_downgrade"


class SeatsInUse(Conflict, BillingError):
    code = "seats_in_use"


class PlanLimitReached(BillingError):
    """One more would exceed the plan's limit; `details` name the limit and the plan that lifts it."""

    status_code = 402
    code = "plan_limit_reached"


class OrganizationRestricted(BillingError):
    """Payment failed and the grace period is over: growing the organization waits for a paid invoice."""

    status_code = 402
    code = "organization_restricted"


class NoTrial(Conflict, BillingError):
    """Only a subscription in its trial can have the trial extended."""

    code = "no_trial"


class TrialExtensionPending(Conflict, BillingError):
    """An extension of this organization's trial is queued or running: a second click would add twice."""

    code = "trial_extension_pending"


class TrialTooLong(InvalidInput, BillingError):
    code = "trial_too_long"
