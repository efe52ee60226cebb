from domain.errors import DomainError, NotFound


class AgentError(DomainError):
    """Base of the agents capability."""


class AgentNotFound(NotFound, AgentError):
    code = "agent_not_found"


class ConversationNotFound(NotFound, AgentError):
    code = "conversation_not_found"
