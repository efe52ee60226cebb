"""The `objecta` console script: `up`, `migrate` (more commands join as capabilities land)."""

from __future__ import annotations

import argparse
import sys

from objecta import settings as settings_module
from objecta.settings import SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="objecta", description="ObjectaLabs platform backend")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("up", help="run the whole stack on this machine (embedded Postgres/Valkey by default)")
    commands.add_parser("migrate", help="create the application role if missing and upgrade the schema")
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
    return 1


if __name__ == "__main__":
    sys.exit(main())
