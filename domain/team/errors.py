from domain.errors import Conflict, DomainError, Forbidden, NotFound, RateLimited


class TeamError(DomainError):
    """Base of the team capability."""


class MemberNotFound(NotFound, TeamError):
    code = "member_not_found"


class InvitationNotFound(NotFound, TeamError):
    code = "invitation_not_found"


class AlreadyMember(Conflict, TeamError):
    code = "already_member"


class OwnersOnly(Forbidden, TeamError):
    """Granting the owner role, or changing, removing or un-inviting an owner, takes an owner."""

    code = "owners_only"


class LastOwner(Conflict, TeamError):
    code = "last_owner"


class CannotTargetSelf(Conflict, TeamError):
    code = "cannot_target_self"


class SeatLimitReached(TeamError):
    """402: the plan's seats are used up; upgrading (billing) is the way out."""

    status_code = 402
    code = "seat_limit_reached"


class TooManyInvitations(RateLimited, TeamError):
    code = "too_many_invitations"


class InvitationInvalid(TeamError):
    """Unknown, expired, used or revoked: one answer, so a token reveals nothing else."""

    status_code = 410
    code = "invitation_invalid"


class LoginRequired(Conflict, TeamError):
    """The invited email already has an account: accept while logged in as it."""

    code = "login_required"
