"""`objecta migrate`: make the application role exist, then upgrade the schema.

Migrations run as the owner (DATABASE_URL). The application role is created
here when missing, as a login role that is not superuser, cannot create
roles or databases and does not bypass row-level security. In production an
operator may create it beforehand; we then only set nothing and migrate.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from domain.db import sqlalchemy_url
from objecta.settings import Settings

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def ensure_app_role(settings: Settings) -> None:
    app = urlsplit(settings.database.app_url)
    role, password = settings.database.app_role, unquote(app.password or "")
    engine = create_engine(sqlalchemy_url(settings.database.url), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            exists = connection.execute(text("select 1 from pg_roles where rolname = :r"), {"r": role}).scalar()
            if not exists:
                connection.exec_driver_sql(
                    f'create role "{role}" login nosuperuser nocreatedb nocreaterole nobypassrls noinherit')
            if password and not settings.is_production:
                # Development: keep the role's password in step with the one
                # generated under OBJECTA_HOME (a new home on an old server).
                # ALTER ROLE takes no bind parameters: quote the literal ourselves.
                literal = password.replace("'", "''")
                connection.exec_driver_sql(f"alter role \"{role}\" password '{literal}'")
    finally:
        engine.dispose()


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(settings.database.url).replace("%", "%%"))
    config.attributes["app_role"] = settings.database.app_role
    return config


def migrate(settings: Settings) -> None:
    """Create the application role if needed and upgrade to the latest revision."""
    ensure_app_role(settings)
    command.upgrade(alembic_config(settings), "head")
