"""Settings are validated at start-up with one clear line per problem."""

from __future__ import annotations

import pytest

from objecta.settings import MIN_BCRYPT_ROUNDS, SettingsError, load


def test_defaults_for_development(tmp_path):
    settings = load({"OBJECTA_HOME": str(tmp_path)})
    assert settings.env == "development"
    assert settings.auth.bcrypt_rounds == MIN_BCRYPT_ROUNDS == 12
    assert settings.database.url is None  # the embedded Postgres
    # The JWT secret is generated once and kept.
    assert load({"OBJECTA_HOME": str(tmp_path)}).auth.jwt_secret == settings.auth.jwt_secret
    assert (tmp_path / "secrets" / "jwt_secret").stat().st_mode & 0o077 == 0


def test_every_problem_is_reported_at_once(tmp_path):
    with pytest.raises(SettingsError) as caught:
        load({"OBJECTA_HOME": str(tmp_path), "DATABASE_URL": "mysql://x/y", "REDIS_URL": "redis://",
              "EDGE_PORT": "eighty", "OBJECTA_ENV": "staging"})
    problems = "\n".join(caught.value.problems)
    assert len(caught.value.problems) == 4
    assert "DATABASE_URL must start with one of postgresql://" in problems
    assert "REDIS_URL has no host" in problems
    assert "EDGE_PORT must be an integer" in problems
    assert "OBJECTA_ENV must be one of" in problems


def test_production_requires_secrets_and_servers(tmp_path):
    with pytest.raises(SettingsError) as caught:
        load({"OBJECTA_HOME": str(tmp_path), "OBJECTA_ENV": "production"})
    problems = caught.value.problems
    assert "JWT_SECRET is required when OBJECTA_ENV=production" in problems
    assert "DATABASE_URL is required when OBJECTA_ENV=production" in problems
    assert "STRIPE_SECRET_KEY is required when OBJECTA_ENV=production" in problems
    assert "STRIPE_WEBHOOK_SECRET is required when OBJECTA_ENV=production" in problems
    assert not (tmp_path / "secrets").exists()


def test_billing_uses_the_stand_in_without_a_key_and_keeps_its_webhook_secret(tmp_path):
    settings = load({"OBJECTA_HOME": str(tmp_path)})
    assert settings.billing.uses_stand_in and settings.billing.api_base is None
    assert settings.billing.webhook_secret.startswith("whsec_") and settings.billing.webhook_tolerance == 300
    assert load({"OBJECTA_HOME": str(tmp_path)}).billing.webhook_secret == settings.billing.webhook_secret
    real = load({"OBJECTA_HOME": str(tmp_path), "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_y"})
    assert not real.billing.uses_stand_in and real.billing.webhook_secret == "whsec_y"
    with pytest.raises(SettingsError) as caught:
        load({"OBJECTA_HOME": str(tmp_path), "STRIPE_SECRET_KEY": "pk_live_x", "STRIPE_API_BASE": "localhost:1"})
    assert len(caught.value.problems) == 2


def test_low_bcrypt_cost_only_in_tests(tmp_path):
    with pytest.raises(SettingsError, match="BCRYPT_ROUNDS below 12"):
        load({"OBJECTA_HOME": str(tmp_path), "BCRYPT_ROUNDS": "4"})
    assert load({"OBJECTA_HOME": str(tmp_path), "BCRYPT_ROUNDS": "4", "OBJECTA_ENV": "test"}).auth.bcrypt_rounds == 4


def test_password_hashes_use_the_configured_cost():
    from domain.accounts.passwords import hash_password
    assert hash_password("a long enough password", MIN_BCRYPT_ROUNDS).startswith("$2b$12$")


def test_team_settings_have_defaults_and_are_validated(tmp_path):
    team = load({"OBJECTA_HOME": str(tmp_path)}).team
    assert (team.invitations_per_hour, team.invitation_ttl_hours, team.free_plan_seats) == (20, 168, 5)
    custom = load({"OBJECTA_HOME": str(tmp_path), "INVITATIONS_PER_HOUR": "3", "INVITATION_TTL_HOURS": "24",
                   "FREE_PLAN_SEATS": "10"}).team
    assert (custom.invitations_per_hour, custom.invitation_ttl_hours, custom.free_plan_seats) == (3, 24, 10)
    with pytest.raises(SettingsError) as refused:
        load({"OBJECTA_HOME": str(tmp_path), "INVITATIONS_PER_HOUR": "0", "INVITATION_TTL_HOURS": "a week",
              "FREE_PLAN_SEATS": "-1"})
    assert len(refused.value.problems) == 3


def test_the_free_plans_limits_and_the_grace_period_have_defaults_and_are_validated(tmp_path):
    billing = load({"OBJECTA_HOME": str(tmp_path)}).billing
    assert (billing.free_plan_agents, billing.free_plan_messages, billing.grace_days,
            billing.event_retention_days) == (5, 1000, 7, 30)
    custom = load({"OBJECTA_HOME": str(tmp_path), "FREE_PLAN_AGENTS": "2", "FREE_PLAN_MESSAGES": "10",
                   "BILLING_GRACE_DAYS": "3", "STRIPE_EVENT_RETENTION_DAYS": "90"}).billing
    assert (custom.free_plan_agents, custom.free_plan_messages, custom.grace_days,
            custom.event_retention_days) == (2, 10, 3, 90)
    with pytest.raises(SettingsError) as refused:
        # Three days is within Stripe's retries of one webhook: a late retry would look new.
        load({"OBJECTA_HOME": str(tmp_path), "FREE_PLAN_AGENTS": "0", "FREE_PLAN_MESSAGES": "lots",
              "BILLING_GRACE_DAYS": "0", "STRIPE_EVENT_RETENTION_DAYS": "3"})
    assert len(refused.value.problems) == 4


def test_simulated_models_are_on_in_development_and_test_and_never_in_production(tmp_path):
    home = {"OBJECTA_HOME": str(tmp_path)}
    assert load(home).agents.simulated_models
    assert load({**home, "OBJECTA_ENV": "test"}).agents.simulated_models
    assert not load({**home, "SIMULATED_MODELS": "false"}).agents.simulated_models
    production = {**home, "OBJECTA_ENV": "production", "JWT_SECRET": "x" * 32, "ADMIN_JWT_SECRET": "y" * 32, "DATABASE_URL": "postgresql://h/d",
                  "APP_DATABASE_URL": "postgresql://a@h/d", "REDIS_URL": "redis://h:6379/0",
                  "STRIPE_SECRET_KEY": "sk_live_x", "STRIPE_WEBHOOK_SECRET": "whsec_y"}
    assert not load(production).agents.simulated_models
    with pytest.raises(SettingsError) as caught:
        load({**production, "SIMULATED_MODELS": "true"})
    assert caught.value.problems == [
        "SIMULATED_MODELS cannot be on when OBJECTA_ENV=production (sim:crash kills workers)"]
    with pytest.raises(SettingsError) as caught:
        load({**home, "SIMULATED_MODELS": "maybe"})
    assert caught.value.problems == ["SIMULATED_MODELS must be true or false, got 'maybe'"]


def test_the_per_organization_cap_has_a_default_and_is_validated(tmp_path):
    home = {"OBJECTA_HOME": str(tmp_path)}
    assert load(home).broker.org_concurrency == 2
    assert load({**home, "ORG_CONCURRENCY_PER_QUEUE": "0"}).broker.org_concurrency == 0  # off
    with pytest.raises(SettingsError) as caught:
        load({**home, "ORG_CONCURRENCY_PER_QUEUE": "-1"})
    assert caught.value.problems == ["ORG_CONCURRENCY_PER_QUEUE must be at least 0, got -1"]


def test_the_admin_realm_has_its_own_key_and_networks(tmp_path):
    home = {"OBJECTA_HOME": str(tmp_path)}
    loaded = load(home)
    assert loaded.admin.jwt_secret != loaded.auth.jwt_secret and len(loaded.admin.jwt_secret) >= 32
    assert loaded.admin.allowed_networks is None
    assert [str(n) for n in load({**home, "ADMIN_ALLOWED_NETWORKS": "10.0.0.0/8, 192.168.1.7"}).admin
            .allowed_networks] == ["10.0.0.0/8", "192.168.1.7/32"]
    with pytest.raises(SettingsError) as bad:
        load({**home, "ADMIN_ALLOWED_NETWORKS": "10.0.0.0/8,nowhere", "OBJECTA_ENV": "production",
              "JWT_SECRET": "s" * 32, "ADMIN_JWT_SECRET": "s" * 32})
    assert "'nowhere' is not one" in str(bad.value)
    assert "ADMIN_JWT_SECRET must differ from JWT_SECRET" in str(bad.value)
