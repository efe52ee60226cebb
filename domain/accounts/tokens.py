"""Access and refresh tokens (JWT, HS256 only).

The access token is a short-lived bearer JWT. The refresh token is a JWT
too, but with its own audience and type, so neither can stand in for the
other; its `jti` is a row in `refresh_tokens`, which is what makes rotation,
reuse detection and revocation possible. Both carry `sid`, the session
(family) id, so logging out or removing a member ends access immediately.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from domain.accounts.errors import InvalidToken

ALGORITHM = "HS256"  # the allow-list: a token claiming any other alg is refused
# Access tokens verified lately, by their exact text: a frontend sends the same token on every request
# for its whole life, and checking its signature and claims again is ~4 % of the command path's CPU.
# Only the signature is remembered, never the session: each request still proves it live in Postgres.
VERIFIED_CACHE_SIZE = 10_000
ACCESS = "access"
REFRESH = "refresh"


@dataclass(frozen=True)
class Principal:
    """Who is calling: the verified claims of an access token."""

    user_id: uuid.UUID
    org_id: uuid.UUID | None  # None: a person with no organization (they may create one or accept an invitation)
    session_id: uuid.UUID


@dataclass(frozen=True)
class RefreshClaims:
    token_id: uuid.UUID
    session_id: uuid.UUID
    user_id: uuid.UUID
    org_id: uuid.UUID | None


class TokenIssuer:
    def __init__(self, secret: str, *, audience: str, issuer: str, access_ttl: int, refresh_ttl: int):
        self._secret = secret
        self.audience = audience
        self.issuer = issuer
        self.access_ttl = access_ttl
        self.refresh_ttl = refresh_ttl
        self._verified: dict[str, tuple[Principal, int]] = {}  # access token -> (its principal, its exp)

    def _encode(self, claims: dict, audience: str, ttl: int) -> str:
        now = int(time.time())
        body = {**claims, "aud": audience, "iss": self.issuer, "iat": now, "exp": now + ttl}
        return jwt.encode(body, self._secret, algorithm=ALGORITHM)

    def _decode(self, token: str, audience: str, kind: str) -> dict:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], audience=audience,
                                issuer=self.issuer, options={"require": ["exp", "iat", "sub", "typ"]})
        except jwt.ExpiredSignatureError as e:
            raise InvalidToken("token expired", code="token_expired") from e
        except jwt.PyJWTError as e:
            raise InvalidToken(f"invalid token: {e}") from e
        if claims.get("typ") != kind:
            raise InvalidToken(f"not an {kind} token" if kind == ACCESS else f"not a {kind} token")
        return claims

    def access_token(self, user_id: uuid.UUID, org_id: uuid.UUID | None, session_id: uuid.UUID) -> str:
        return self._encode({"sub": str(user_id), "org": _org(org_id), "sid": str(session_id), "typ": ACCESS},
                            self.audience, self.access_ttl)

    def refresh_token(self, claims: RefreshClaims) -> str:
        return self._encode({"sub": str(claims.user_id), "org": _org(claims.org_id), "sid": str(claims.session_id),
                             "jti": str(claims.token_id), "typ": REFRESH},
                            f"{self.audience}:refresh", self.refresh_ttl)

    def link_token(self, purpose: str, user_id: uuid.UUID, token_id: uuid.UUID, ttl: int) -> str:
        """The signed token of an emailed link (`purpose`: verify_email, password_reset, not_me). Its
        audience is the purpose's own, so no link can stand in for another or for a session token; its
        `jti` is the `account_tokens` row that makes it single-use."""
        return self._encode({"sub": str(user_id), "jti": str(token_id), "typ": purpose},
                            f"{self.audience}:{purpose}", ttl)

    def verify_link(self, token: str, purpose: str) -> tuple[uuid.UUID, uuid.UUID]:
        """(user id, token row id) of a link token of `purpose`; `InvalidToken` if forged or expired."""
        claims = self._decode(token, f"{self.audience}:{purpose}", purpose)
        try:
            return uuid.UUID(claims["sub"]), uuid.UUID(claims["jti"])
        except (KeyError, ValueError) as e:
            raise InvalidToken("invalid token: malformed claims") from e

    def verify_access(self, token: str) -> Principal:
        known = self._verified.get(token)
        if known is not None and known[1] > time.time():
            return known[0]
        claims = self._decode(token, self.audience, ACCESS)  # an expired one raises `token_expired` here
        try:
            principal = Principal(uuid.UUID(claims["sub"]), _org_of(claims["org"]), uuid.UUID(claims["sid"]))
        except (KeyError, ValueError) as e:
            raise InvalidToken("invalid token: malformed claims") from e
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()  # crude, but bounds memory; each token costs one verification again
        self._verified[token] = (principal, int(claims["exp"]))
        return principal

    def verify_refresh(self, token: str) -> RefreshClaims:
        claims = self._decode(token, f"{self.audience}:refresh", REFRESH)
        try:
            return RefreshClaims(uuid.UUID(claims["jti"]), uuid.UUID(claims["sid"]),
                                 uuid.UUID(claims["sub"]), _org_of(claims["org"]))
        except (KeyError, ValueError) as e:
            raise InvalidToken("invalid token: malformed claims") from e


def _org(org_id: uuid.UUID | None) -> str:
    return "" if org_id is None else str(org_id)  # "": a session with no organization


def _org_of(claim: str) -> uuid.UUID | None:
    return uuid.UUID(claim) if claim else None
