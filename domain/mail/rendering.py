"""Email templates: `<name>.subject.txt`, `<name>.txt` and `<name>.html` in `templates/`.

HTML is autoescaped, so a notification titled `<script>` shows that text
instead of running it; the plain-text part and the subject are not escaped,
so they read exactly as written. A variable the template uses but the
context lacks is an error, not an empty hole in a sent email.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

from domain.mail.errors import MailTemplateError

TEMPLATES = Path(__file__).parent / "templates"
_SUBJECT = ".subject.txt"


@cache
def templates() -> frozenset[str]:
    """The names of every email template (found on disk: no list to keep in step)."""
    return frozenset(path.name.removesuffix(_SUBJECT) for path in TEMPLATES.glob(f"*{_SUBJECT}"))


def render(template: str, context: dict[str, Any]) -> tuple[str, str, str]:
    """Render one email: `(subject, text, html)`.

    Raises `MailTemplateError` for an unknown template or a context missing
    a variable the template needs.
    """
    if template not in templates():
        raise MailTemplateError(f"unknown email template {template!r}")
    environment = _environment()
    try:
        subject, text, html = (environment.get_template(template + suffix).render(context)
                               for suffix in (_SUBJECT, ".txt", ".html"))
    except TemplateError as error:
        raise MailTemplateError(f"email template {template!r} could not be rendered: {error}") from error
    # One line: a header cannot hold a line break, and a title might carry one.
    return " ".join(subject.split()), text, html


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES), undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    environment.filters["when"] = when
    environment.filters["chosen_name"] = chosen_name
    return environment


# Anything a mail client could turn into a link: a scheme, `www.`, or a dotted host name.
_LINKISH = re.compile(r"(?i)\b(?:[a-z][a-z0-9+.-]*:/*\S*|www\.\S*|(?:[\w-]+\.)+[a-z]{2,}\b\S*)")
NAME_IN_EMAIL = 40  # characters of a name chosen by a customer that an email to a stranger shows


def chosen_name(value: str, limit: int = NAME_IN_EMAIL) -> str:
    """A name someone chose (an organization, an inviter), made safe to show a stranger: no link-like text
    (`Support https://evil.example` → `Support [link removed]`), no control or direction-override characters,
    one line, at most `limit` characters. Invitations go to any address: their names are an attacker's
    megaphone (issue 14, finding 5)."""
    text = "".join(ch for ch in str(value) if unicodedata.category(ch)[0] != "C")
    text = " ".join(_LINKISH.sub("[link removed]", text).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def when(value: datetime | str) -> str:
    """A moment as people read it: `3 December 2026 at 10:00 UTC` (ISO 8601 text too; naive means UTC)."""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    zone = moment.tzname() or "UTC"
    return f"{moment.day} {moment:%B %Y} at {moment:%H:%M} {zone}"
