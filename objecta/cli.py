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
    _dlq_parser(commands)
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
    if args.command == "dlq":
        return _dlq(settings, args)
    return 1


def _dlq_parser(commands) -> None:
    dlq = commands.add_parser("dlq", help="dead letters: list, replay, purge (docs/operations.md)")
    verbs = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = verbs.add_parser("list", help="what was given up on: when, why, after how many attempts")
    listing.add_argument("--queue")
    listing.add_argument("--json", action="store_true", help="one JSON object a line")
    replay = verbs.add_parser("replay", help="send dead letters again (commands go back to queued)")
    replay.add_argument("id", nargs="?", help="the letter's id, as `list` shows it")
    replay.add_argument("--queue")
    replay.add_argument("--all", action="store_true", help="every letter (of --queue, or of every queue)")
    purge = verbs.add_parser("purge", help="drop dead letters for good")
    purge.add_argument("--queue")
    purge.add_argument("--yes", action="store_true", help="do not ask")


def _dlq(settings, args) -> int:
    import json

    from objecta.deadletters import each_line, open_dead_letters
    from objecta.launcher import queue_modules

    if args.dlq_command == "replay" and not args.id and not args.all:
        print("objecta: name a letter (objecta dlq replay ID) or replay many with --all [--queue Q]",
              file=sys.stderr)
        return 2
    settings = _running_stack(settings)
    if settings is None:
        return 2
    letters = open_dead_letters(settings, [m.removeprefix("workers.") for m in queue_modules()])
    if args.dlq_command == "list":
        found = letters.list(args.queue)
        for line in ([json.dumps(letter.as_dict()) for letter in found] if args.json else each_line(found)):
            print(line)
        return 0
    if args.dlq_command == "replay":
        replayed = letters.replay(letter_id=args.id, queue=args.queue)
        print(f"objecta: replayed {replayed} dead letter(s)")
        return 0 if replayed or args.all else 1
    if not args.yes:
        count = len(letters.list(args.queue))
        where = f"queue {args.queue}" if args.queue else "every queue"
        if not sys.stdin.isatty():
            print(f"objecta: this drops {count} dead letter(s) of {where} for good; add --yes", file=sys.stderr)
            return 2
        if input(f"drop {count} dead letter(s) of {where} for good? type yes: ").strip() != "yes":
            return 1
    print(f"objecta: purged {letters.purge(args.queue)} dead letter(s)")
    return 0


def _running_stack(settings):
    """Settings that reach a running `objecta up`'s embedded Postgres and Valkey when no URL is set."""
    from objecta import embedded

    for variable, port, what in (("DATABASE_URL", settings.database.embedded_port, "Postgres"),
                                 ("REDIS_URL", settings.redis.embedded_port, "Valkey")):
        if os.environ.get(variable):
            continue
        if embedded.port_is_free(port):
            print(f"objecta: {variable} is not set and no embedded {what} answers (start `objecta up`)",
                  file=sys.stderr)
            return None
        scheme = "postgresql://postgres@" if variable == "DATABASE_URL" else "redis://"
        os.environ[variable] = f"{scheme}127.0.0.1:{port}/{'postgres' if variable == 'DATABASE_URL' else '0'}"
    return settings_module.load()


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
