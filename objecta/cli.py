"""The `objecta` console script: `up`, `migrate`, `billing sync-catalog`, `admin`, `aggregate`, `status`."""

from __future__ import annotations

import argparse
import os
import sys

from objecta import settings as settings_module
from objecta.settings import SettingsError

ADMIN_ROLES = ("support", "billing", "superadmin")  # domain/admin/permissions.py (not imported: argparse only)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="objecta", description="ObjectaLabs platform backend")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the whole stack on this machine (embedded Postgres/Valkey by default)")
    commands.add_parser("migrate", help="create the application role if missing and upgrade the schema")
    billing = commands.add_parser("billing", help="billing operations")
    billing_commands = billing.add_subparsers(dest="billing_command", required=True)
    billing_commands.add_parser("sync-catalog", help="create the plans catalog at Stripe (idempotent)")
    admin = commands.add_parser("admin", help="the admin realm (docs/admin.md)")
    admin_commands = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_commands.add_parser("create", help="create an admin; prints JSON with the TOTP secret")
    create.add_argument("--email", required=True)
    create.add_argument("--password", required=True)
    create.add_argument("--role", default="support", choices=ADMIN_ROLES)
    create.add_argument("--name", default="")
    for verb in ("disable", "enable"):
        toggle = admin_commands.add_parser(verb, help=f"{verb} an admin (their sessions stop at once)")
        toggle.add_argument("--email", required=True)
    reset = admin_commands.add_parser("reset-totp", help="a lost authenticator: new TOTP secret and recovery codes "
                                                         "(JSON), every session of the admin revoked")
    reset.add_argument("--email", required=True)
    admin_commands.add_parser("verify-audit", help="check the audit log's hash chain; exit 1 at the first bad row")
    status = commands.add_parser("status", help="queues, workers, scheduler, relay and dependencies on one screen")
    status.add_argument("--json", action="store_true", help="the same report as JSON (as GET /admin/v1/system/health)")
    aggregate = commands.add_parser("aggregate", help="run the nightly analytics roll-up now for UTC days")
    aggregate.add_argument("--date", help="one day, YYYY-MM-DD (or today, yesterday)")
    aggregate.add_argument("--from", dest="first", help="first day of a range, YYYY-MM-DD")
    aggregate.add_argument("--to", dest="last", help="last day of a range, YYYY-MM-DD")
    args = parser.parse_args(argv)

    try:
        settings = settings_module.load()
    except SettingsError as e:
        print(f"objecta: {e}", file=sys.stderr)
        return 2

    if args.command == "up":
        from objecta.launcher import up
        return up(settings)
    if args.command == "migrate":
        if settings.database.url is None:
            print("objecta: DATABASE_URL is not set (run `objecta up` for the embedded default)", file=sys.stderr)
            return 2
        from objecta.migrate import migrate
        migrate(settings)
        print("objecta: schema is up to date")
        return 0
    if args.command == "billing" and args.billing_command == "sync-catalog":
        if settings.billing.uses_stand_in and settings.billing.api_base is None:
            print("objecta: set STRIPE_SECRET_KEY (or STRIPE_API_BASE for a running stand-in); "
                  "`objecta up` syncs the stand-in itself", file=sys.stderr)
            return 2
        from domain.billing.errors import PaymentError
        from objecta.launcher import sync_billing_catalog
        try:
            created = sync_billing_catalog(settings)
        except PaymentError as error:  # Stripe refused or could not be reached: say why, no traceback
            print(f"objecta: the plans catalog was not synced: {error.message}", file=sys.stderr)
            return 1
        print(f"objecta: plans catalog in sync (created: {', '.join(created) or 'nothing'})")
        return 0
    if args.command == "admin":
        from objecta.admin import run
        return run(settings, args)
    if args.command == "aggregate":
        return _aggregate(settings, args)
    if args.command == "status":
        from objecta.status import run as status
        return status(settings, args.json)
    return 1


def _aggregate(settings, args) -> int:
    from objecta.aggregate import BadDate, aggregate, days_of

    try:
        days = days_of(args.date, args.first, args.last)
    except BadDate as error:
        print(f"objecta: {error}", file=sys.stderr)
        return 2
    if settings.database.url is None:
        # `objecta up` in another terminal: its embedded Postgres, when it answers.
        from objecta import embedded
        url = f"postgresql://postgres@127.0.0.1:{settings.database.embedded_port}/postgres"
        if embedded.port_is_free(settings.database.embedded_port):
            print("objecta: DATABASE_URL is not set and no embedded Postgres answers (start `objecta up`)",
                  file=sys.stderr)
            return 2
        os.environ["DATABASE_URL"] = url
        settings = settings_module.load()
    print(aggregate(settings, days))
    return 0


if __name__ == "__main__":
    sys.exit(main())
