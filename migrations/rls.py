"""Row-level security helpers every revision uses for its tenant tables.

Policies compare against `(select current_setting(...))` so Postgres evaluates
the setting once per statement (an InitPlan), not once per row, and an unset
or empty setting becomes NULL, which matches nothing.
"""

from alembic import op

CURRENT_ORG = "(select nullif(current_setting('app.org_id', true), '')::uuid)"
CURRENT_USER = "(select nullif(current_setting('app.user_id', true), '')::uuid)"
LOGIN_EMAIL = "(select nullif(current_setting('app.login_email', true), ''))"
# Maintenance that spans tenants (sweeper, schedules, admin) opens its
# transactions with this scope; see Database.transaction(system=True).
SYSTEM = "(select current_setting('app.scope', true)) = 'system'"


def app_role() -> str:
    """The application's role, passed by `objecta migrate` (see objecta/migrate.py)."""
    return op.get_context().config.attributes.get("app_role", "objecta_app")


def enable(table: str) -> None:
    """Turn on RLS, forced even for the owner, with no policy yet (so: no rows)."""
    op.execute(f"alter table {table} enable row level security")
    op.execute(f"alter table {table} force row level security")


def tenant_table(table: str, column: str = "org_id") -> None:
    """The common case: a row belongs to the organization in `column`."""
    enable(table)
    op.execute(
        f"create policy tenant_isolation on {table} "
        f"using ({column} = {CURRENT_ORG}) with check ({column} = {CURRENT_ORG})"
    )
    system_access(table)


def system_access(table: str) -> None:
    """Let a system-scoped transaction read and write every row of `table`."""
    op.execute(f"create policy system_scope on {table} using ({SYSTEM}) with check ({SYSTEM})")
