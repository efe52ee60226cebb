"""Password hashing: bcrypt over a SHA-256 pre-hash.

bcrypt reads only the first 72 bytes of its input (and bcrypt 5 raises on
longer input), so two long passwords sharing a prefix would hash alike. We
feed it base64(SHA-256(password)) instead: 44 bytes, never truncated, every
byte of the password counts. Base64 avoids NUL bytes, which bcrypt stops at.
"""

from __future__ import annotations

import base64
import hashlib

import bcrypt

from domain.accounts.errors import WeakPassword

MIN_LENGTH = 8
MAX_LENGTH = 1024  # characters; long enough for passphrases, bounded for hashing


def _prehash(password: str) -> bytes:
    return base64.b64encode(hashlib.sha256(password.encode("utf-8")).digest())


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"password must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"password must be at most {MAX_LENGTH} characters")


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(_prehash(password), bcrypt.gensalt(rounds)).decode()


def verify_password(password: str, hashed: str) -> bool:
    if len(password) > MAX_LENGTH:
        return False
    try:
        return bcrypt.checkpw(_prehash(password), hashed.encode())
    except ValueError:  # a malformed stored hash is a failed login, not a crash
        return False


# A hash to verify against when the email is unknown, so a login for a missing
# account costs the same time as one with a wrong password.
def dummy_hash(rounds: int) -> str:
    return hash_password("not-a-real-password", rounds)
