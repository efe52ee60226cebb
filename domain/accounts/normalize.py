"""The one spelling of an email address and of a password.

Every email that enters the platform (sign-up, login, invitations, password
reset, change of email, the admin realm's search) goes through
`normalize_email`, so two spellings of one mailbox are one account:

- Unicode NFC, so a composed and a decomposed "é" are the same address;
- the domain is lowercased, IDNA-encoded (`bücher.example` → `xn--bcher-kva.example`)
  and loses a trailing dot (`example.com.` is `example.com` in DNS);
- the local part is lowercased too: the platform always treated addresses case-blind and the
  `users.email = lower(email)` check keeps it so;
- only the bare `local@domain` form is accepted: display names, angle brackets, quotes, comments,
  whitespace and control characters are refused (`"a>b"<x@example.com` is not an address we send to).

Passwords are NFKC-normalized before hashing (NIST SP 800-63B §5.1.1.2): the same passphrase typed on
two keyboards (composed or decomposed accents, full-width digits) is the same password.
"""

from __future__ import annotations

import re
import unicodedata

import idna

from domain.errors import InvalidInput

MAX_EMAIL = 254
MAX_LOCAL = 64
# What RFC 5322 allows unquoted in a local part (dot-atom), plus any non-ASCII letter (RFC 6531).
# Quoted local parts, comments and display names are refused outright.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-\u0080-\U0010FFFF]+"
_LOCAL = re.compile(rf"^{_ATOM}(\.{_ATOM})*$")
_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def _invalid(reason: str) -> InvalidInput:
    return InvalidInput(f"email is not a valid address: {reason}", details={"field": "email"})


def normalize_email(email: str) -> str:
    """The canonical spelling of `email`, or `InvalidInput` (422 `invalid_input`, field `email`)."""
    email = unicodedata.normalize("NFC", email.strip())
    if any(unicodedata.category(ch)[0] in "CZ" for ch in email):  # controls, format chars, any space
        raise _invalid("no spaces or control characters")
    local, at, domain = email.rpartition("@")
    if not at or not local or not domain:
        raise _invalid("expected local@domain")
    if len(local) > MAX_LOCAL or not _LOCAL.match(local):
        raise _invalid("only a plain local part (no quotes, brackets, display name or comment)")
    domain = domain.rstrip(".") if domain.endswith(".") and not domain.endswith("..") else domain
    try:
        ascii_domain = idna.encode(domain.lower(), uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        raise _invalid("the domain is not a valid host name") from None
    labels = ascii_domain.split(".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels) or labels[-1].isdigit():
        raise _invalid("the domain is not a valid host name")
    normalized = f"{local.lower()}@{ascii_domain}"
    if len(normalized) > MAX_EMAIL:
        raise _invalid(f"at most {MAX_EMAIL} characters")
    return normalized


def normalize_password(password: str) -> str:
    """NFKC, as NIST SP 800-63B advises: one passphrase, however the keyboard composed it."""
    return unicodedata.normalize("NFKC", password)
