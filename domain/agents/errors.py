from domain.errors import DomainError, InvalidInput, NotFound


class AgentError(DomainError):
    """Base of the agents capability."""


class AgentNotFound(NotFound, AgentError):
    code = "agent_not_found"


class ConversationNotFound(NotFound, AgentError):
    code = "conversation_not_found"


class SimulatedModelUnavailable(InvalidInput, AgentError):
    """A `sim:` model where SIMULATED_MODELS is off (always in production)."""

    code = "simulated_model_unavailable"
