"""Access tokens: a verified token is remembered by its text, never past its expiry, never for another text."""

from __future__ import annotations

import time
import uuid

import pytest

from domain.accounts.errors import InvalidToken
from domain.accounts.tokens import TokenIssuer


def _issuer(ttl: int) -> TokenIssuer:
    return TokenIssuer("s" * 32, audience="objecta", issuer="objecta-test", access_ttl=ttl, refresh_ttl=60)


def test_a_remembered_token_still_expires():
    issuer = _issuer(ttl=1)
    token = issuer.access_token(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    assert issuer.verify_access(token) == issuer.verify_access(token)  # the second from memory
    time.sleep(2.1)  # past `exp` (whole seconds)
    with pytest.raises(InvalidToken) as expired:
        issuer.verify_access(token)
    assert expired.value.code == "token_expired"


def test_a_token_altered_after_one_was_remembered_is_refused():
    issuer = _issuer(ttl=60)
    token = issuer.access_token(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    issuer.verify_access(token)
    head, body, signature = token.split(".")
    with pytest.raises(InvalidToken):
        issuer.verify_access(f"{head}.{body}.{signature[:-3]}{'xyz' if signature[-3:] != 'xyz' else 'abc'}")
    with pytest.raises(InvalidToken):  # signed by another key: another issuer's cache knows nothing of it
        TokenIssuer("t" * 32, audience="objecta", issuer="objecta-test", access_ttl=60,
                    refresh_ttl=60).verify_access(token)
