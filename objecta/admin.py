"""`objecta admin ...`: create, disable or enable an admin, reset a lost authenticator; verify the audit log.

Runs as the application role in the system scope, like the admin edge: the
CLI gets no more power over the audit log than the edge has (append and read).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid

from domain.admin import audit
from domain.admin.errors import AdminError
from domain.admin.models import AuditEntry
from domain.errors import DomainError
from objecta import wiring
from objecta.settings import Settings


def _terminal_qr(uri: str) -> None:
    """A QR code of the otpauth URI on a terminal, when the optional `qrcode` package is installed."""
    if not sys.stderr.isatty():
        return
    try:
        import qrcode  # optional: pip install qrcode
    except ImportError:
        return
    code = qrcode.QRCode(border=1)
    code.add_data(uri)
    code.print_ascii(out=sys.stderr, invert=True)


async def _create(settings: Settings, args) -> int:
    service = wiring.admin(settings)
    db = wiring.database(settings, jobs=None)
    try:
        async with db.transaction(system=True) as session:
            admin, codes = await service.create_admin(session, email=args.email, password=args.password,
                                                      role=args.role, name=args.name)
    finally:
        await db.dispose()
    uri = service.otpauth_uri(admin)
    print(json.dumps({"id": str(admin.id), "email": admin.email, "role": admin.role,
                      "totp_secret": admin.totp_secret, "otpauth_uri": uri, "recovery_codes": codes}, indent=2))
    _terminal_qr(uri)
    return 0


async def _reset_totp(settings: Settings, email: str) -> int:
    service = wiring.admin(settings)
    db = wiring.database(settings, jobs=None)
    try:
        async with db.transaction(system=True) as session:
            admin, codes, revoked = await service.reset_totp(session, email)
            # No admin acts here (an operator with database access does): the row names the admin changed.
            await audit.record(session, AuditEntry(action="admin.totp.reset", resource_type="admin_user",
                                                   resource_id=str(admin.id), user_agent="objecta admin reset-totp",
                                                   request_id=str(uuid.uuid4()), status_code=200,
                                                   details={"email": admin.email, "sessions_revoked": revoked}))
    finally:
        await db.dispose()
    uri = service.otpauth_uri(admin)
    print(json.dumps({"id": str(admin.id), "email": admin.email, "totp_secret": admin.totp_secret,
                      "otpauth_uri": uri, "recovery_codes": codes, "sessions_revoked": revoked}, indent=2))
    _terminal_qr(uri)
    return 0


async def _toggle(settings: Settings, email: str, disabled: bool) -> int:
    db = wiring.database(settings, jobs=None)
    try:
        async with db.transaction(system=True) as session:
            found = await wiring.admin(settings).set_disabled(session, email, disabled)
    finally:
        await db.dispose()
    if not found:
        print(f"objecta: no admin with email {email}", file=sys.stderr)
        return 1
    print(f"objecta: {email} {'disabled' if disabled else 'enabled'}")
    return 0


async def _verify(settings: Settings) -> int:
    db = wiring.database(settings, jobs=None)
    try:
        async with db.transaction(system=True) as session:
            verdict = await audit.verify(session)
    finally:
        await db.dispose()
    if verdict.first_bad is not None:
        print(f"objecta: audit log broken at row seq={verdict.first_bad}: {verdict.reason} "
              f"({verdict.rows} rows before it verify)", file=sys.stderr)
        return 1
    print(f"objecta: audit log verifies ({verdict.rows} rows)")
    return 0


def run(settings: Settings, args) -> int:
    if settings.database.url is None and settings.database.app_url is None:
        print("objecta: DATABASE_URL is not set (with `objecta up` running, export the URL it prints)",
              file=sys.stderr)
        return 2
    try:
        if args.admin_command == "create":
            return asyncio.run(_create(settings, args))
        if args.admin_command == "reset-totp":
            return asyncio.run(_reset_totp(settings, args.email))
        if args.admin_command in ("disable", "enable"):
            return asyncio.run(_toggle(settings, args.email, args.admin_command == "disable"))
        if args.admin_command == "verify-audit":
            return asyncio.run(_verify(settings))
    except (AdminError, DomainError) as error:
        print(f"objecta: {error.message}", file=sys.stderr)
        return 1
    return 2
