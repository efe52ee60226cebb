"""Admin tokens: HS256 JWTs with the admin realm's own key and audience.

Three kinds, each with its own audience so none stands in for another: the
MFA token (only good for the code step), the access token and the refresh
token. A tenant token fails here on the key and the audience; an admin token
fails at the tenant edge the same way.
"""

from __future__ import annotations

import time
import uuid

import jwt

from domain.admin.errors import AdminTokenInvalid
from domain.admin.models import AdminPrincipal

ALGORITHM = "HS256"


class AdminTokenIssuer:
    def __init__(self, secret: str, *, audience: str, issuer: str, access_ttl: int, refresh_ttl: int,
                 mfa_ttl: int):
        self._secret = secret
        self.audience, self.issuer = audience, issuer
        self.access_ttl, self.refresh_ttl, self.mfa_ttl = access_ttl, refresh_ttl, mfa_ttl

    def _encode(self, kind: str, claims: dict, ttl: int) -> str:
        now = int(time.time())
        body = {**claims, "aud": f"{self.audience}:{kind}", "iss": self.issuer, "iat": now, "exp": now + ttl,
                "typ": kind}
        return jwt.encode(body, self._secret, algorithm=ALGORITHM)

    def _decode(self, token: str, kind: str) -> dict:
        try:
            claims = jwt.decode(token, self._secret, algorithms=[ALGORITHM], audience=f"{self.audience}:{kind}",
                                issuer=self.issuer, options={"require": ["exp", "iat", "sub", "typ"]})
        except jwt.ExpiredSignatureError as e:
            raise AdminTokenInvalid("token expired", code="token_expired") from e
        except jwt.PyJWTError as e:
            raise AdminTokenInvalid(f"not an admin {kind} token: {e}") from e
        if claims.get("typ") != kind:
            raise AdminTokenInvalid(f"not an admin {kind} token")
        return claims

    def mfa_token(self, admin_id: uuid.UUID) -> str:
        return self._encode("mfa", {"sub": str(admin_id)}, self.mfa_ttl)

    def access_token(self, admin_id: uuid.UUID, session_id: uuid.UUID) -> str:
        return self._encode("access", {"sub": str(admin_id), "sid": str(session_id)}, self.access_ttl)

    def refresh_token(self, admin_id: uuid.UUID, session_id: uuid.UUID, refresh_id: uuid.UUID) -> str:
        return self._encode("refresh", {"sub": str(admin_id), "sid": str(session_id), "jti": str(refresh_id)},
                            self.refresh_ttl)

    def verify_mfa(self, token: str) -> uuid.UUID:
        return self._uuid(self._decode(token, "mfa"), "sub")

    def verify_access(self, token: str) -> AdminPrincipal:
        claims = self._decode(token, "access")
        return AdminPrincipal(self._uuid(claims, "sub"), self._uuid(claims, "sid"))

    def verify_refresh(self, token: str) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
        claims = self._decode(token, "refresh")
        return self._uuid(claims, "sub"), self._uuid(claims, "sid"), self._uuid(claims, "jti")

    @staticmethod
    def _uuid(claims: dict, name: str) -> uuid.UUID:
        try:
            return uuid.UUID(claims[name])
        except (KeyError, ValueError, TypeError, AttributeError) as e:
            raise AdminTokenInvalid("invalid token: malformed claims") from e
