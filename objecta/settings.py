"""Settings, read from the environment once and validated at start-up.

Every process (edge, relay, workers, scheduler, launcher) calls `load()`.
Problems are collected, not raised one at a time, so an operator sees every
mistake in one run: `SettingsError` carries one clear line per problem.
"""

from __future__ import annotations

import ipaddress
import os
import tempfile
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit, quote

ENVIRONMENTS = ("development", "test", "production")
MIN_BCRYPT_ROUNDS = 12


class SettingsError(Exception):
    """Start-up configuration is invalid; `problems` has one line per mistake."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid settings:\n" + "\n".join(f"  - {p}" for p in problems))


@dataclass(frozen=True)
class DatabaseSettings:
    # The owner's connection: migrations and cross-tenant maintenance run as it.
    # None means "start the embedded Postgres".
    url: str | None
    # The application's connection: a role that is not superuser, not owner and
    # not BYPASSRLS, so row-level security applies to everything it does.
    app_url: str | None
    app_role: str
    pool_size: int
    embedded_port: int


@dataclass(frozen=True)
class RedisSettings:
    url: str | None  # None: start the embedded Valkey
    embedded_port: int


@dataclass(frozen=True)
class BrokerSettings:
    url: str | None  # None: the Redis above; amqp://... selects RabbitMQ
    namespace: str  # Redis key prefix, so several deployments can share one Redis
    # A Redis-broker worker whose heartbeat is older than this is presumed dead
    # and its unacknowledged messages are requeued (by another worker's maintenance).
    heartbeat_timeout_ms: int
    maintenance_chance: int  # per million fetches; Dramatiq's default is 1000
    # Messages of one organization running at once per queue, across every pool of that queue
    # (objecta.fairness); 0 turns the cap off.
    org_concurrency: int
    # How long an idle Redis-broker consumer waits in Redis for a message before fetching again
    # (objecta.waking_broker); 0 polls as Dramatiq does.
    idle_wait_ms: int = 1000

    @property
    def is_rabbitmq(self) -> bool:
        return bool(self.url) and self.url.startswith(("amqp://", "amqps://"))


@dataclass(frozen=True)
class CommandSettings:
    max_attempts: int  # deliveries of one command, crashes included, before it is failed
    time_limit_ms: int  # one attempt's limit
    sweep_queued_after: int  # seconds a command may sit queued before the sweeper re-sends it
    sweep_running_after: int  # seconds a command may run untouched before it is presumed lost


@dataclass(frozen=True)
class AgentSettings:
    # The local runtime's misbehaving models (`sim:slow:5`, `sim:crash`, ...): a development and
    # test tool. Off, no agent may be given one and the runtime refuses to simulate.
    simulated_models: bool


@dataclass(frozen=True)
class MailSettings:
    sendgrid_api_key: str | None  # None: write emails to the outbox under OBJECTA_HOME
    sendgrid_api_host: str  # overridable so tests can point the SDK at a local endpoint
    sender: str  # the From address
    outbox: Path


@dataclass(frozen=True)
class AuthSettings:
    jwt_secret: str
    access_token_ttl: int
    refresh_token_ttl: int
    bcrypt_rounds: int
    # Failed logins per account: after `login_attempts` in `login_lock_seconds` the account's logins are
    # refused until that window ends; after `login_daily_attempts` in a day, until the day's ends.
    login_attempts: int = 5
    login_lock_seconds: int = 900
    login_daily_attempts: int = 20
    audience: str = "objecta"
    issuer: str = "objecta"


@dataclass(frozen=True)
class AdminSettings:
    """The admin realm (docs/admin.md): its own signing key and audience, so no tenant token opens it."""

    jwt_secret: str
    access_token_ttl: int  # seconds; short, the refresh token renews it
    refresh_token_ttl: int  # seconds an admin session lives without being refreshed
    mfa_token_ttl: int  # seconds between the password step and the code step
    # None: any address; else admin routes answer 403 `network_not_allowed` from outside these.
    allowed_networks: tuple | None
    login_attempts: int  # password or code attempts per admin (and per IP, times 4) per window
    attempt_window: int  # seconds
    url: str  # the admin console's address, for links in emails to admins
    audience: str = "objecta-admin"
    issuer: str = "objecta"
    totp_issuer: str = "ObjectaLabs Admin"  # what an authenticator app shows


@dataclass(frozen=True)
class TeamSettings:
    invitations_per_hour: int  # invitations one organization may send per clock hour
    invitation_ttl_hours: int  # how long an invitation link stays valid
    free_plan_seats: int  # seats (members + pending invitations) until billing says otherwise


@dataclass(frozen=True)
class BillingSettings:
    # None: no real Stripe account; the local stand-in (localstripe) serves the API at `api_base`,
    # started by `objecta up` or the tests when `api_base` is not given either.
    stripe_secret_key: str | None
    api_base: str | None  # overrides Stripe's https://api.stripe.com (the stand-in, a proxy)
    webhook_secret: str  # signs POST /v1/webhooks/stripe
    webhook_tolerance: int  # seconds a signed webhook stays acceptable (replay window)
    embedded_port: int  # where `objecta up` runs the stand-in when neither key nor base is set
    free_plan_agents: int  # agents an organization without a live subscription may have
    free_plan_messages: int  # messages per calendar month (UTC) of the free plan, for the quota notices
    grace_days: int  # days after a failed invoice payment before the organization is restricted
    event_retention_days: int = 30  # handled Stripe events older than this are deleted

    @property
    def uses_stand_in(self) -> bool:
        return self.stripe_secret_key is None


@dataclass(frozen=True)
class AnalyticsSettings:
    retention_days: int  # raw events older than this are dropped, a whole month's partition at a time
    high_traffic_per_hour: int  # events of one agent in one clock hour that raise agent.high_traffic


@dataclass(frozen=True)
class ObservabilitySettings:
    log_format: str = "text"  # LOG_FORMAT: "text" for people, "json" (one object a line) for collectors
    metrics_dir: str = "/tmp/objecta-metrics"  # METRICS_DIR: worker pools' multi-process files, a folder per run
    worker_metrics_port: int = 9191  # WORKER_METRICS_PORT: a worker pool's exporter (0: none)
    scheduler_metrics_port: int = 9192  # SCHEDULER_METRICS_PORT: the scheduler's exporter (0: none)


@dataclass(frozen=True)
class HttpSettings:
    host: str
    edge_port: int
    relay_port: int
    max_body_bytes: int
    app_url: str
    # Proxies whose X-Forwarded-For is believed (edge/client_ip.py); empty: the socket's peer is the client.
    trusted_proxies: tuple = ()
    # Browser origins allowed by CORS (edge/headers.py); empty: no cross-origin browser access.
    frontend_origins: tuple = ()


# Every rate limit by name: (requests, seconds), overridable as RATE_LIMIT_<NAME>=<requests>/<seconds>.
# What each one counts is in edge/ratelimits.py (public routes declare theirs with `rate_limited(name)`).
RATE_LIMIT_DEFAULTS: dict[str, tuple[int, int]] = {
    "signup": (10, 3600),  # per IP
    "login": (30, 900),  # per IP (per account: domain/accounts)
    "refresh": (120, 60),  # per IP
    "invitation_accept": (30, 900),  # per IP: guessing tokens
    "password_reset": (10, 3600),  # per IP: reset emails asked for (per address: domain/accounts)
    "account_links": (30, 900),  # per IP: emailed tokens tried (verify, reset confirm, "this wasn't me")
    "public": (60, 60),  # per IP, for a public route without a limit of its own
    "person_reads": (600, 60),  # per person, authenticated GETs
    "person_writes": (120, 60),  # per person, POST/PUT/PATCH/DELETE on tenant routes
    "org_writes": (600, 60),  # per organization, the same writes
    "events_per_sender": (300, 60),  # POST /v1/events batches per API key or person
    "events_per_org": (600, 60),  # POST /v1/events batches per organization
    "agent_errors_per_person": (10, 3600),  # POST /v1/agents/{id}/errors emails managers
    "agent_errors_per_agent": (30, 3600),
    "relay_connects": (30, 60),  # websocket handshakes per login session
    "relay_connections": (10, 0),  # websockets open at once per login session (no window)
}


@dataclass(frozen=True)
class RateLimitSettings:
    limits: dict  # name -> (requests, seconds)

    def __getitem__(self, name: str) -> tuple[int, int]:
        return self.limits[name]


@dataclass(frozen=True)
class Settings:
    env: str
    home: Path
    database: DatabaseSettings
    redis: RedisSettings
    broker: BrokerSettings
    commands: CommandSettings
    mail: MailSettings
    auth: AuthSettings
    http: HttpSettings
    team: TeamSettings
    billing: BillingSettings
    sentry_dsn: str | None
    log_level: str
    agents: AgentSettings
    admin: AdminSettings
    analytics: AnalyticsSettings = AnalyticsSettings(retention_days=90, high_traffic_per_hour=10_000)
    rate_limits: RateLimitSettings = RateLimitSettings(dict(RATE_LIMIT_DEFAULTS))
    sentry_release: str | None = None  # SENTRY_RELEASE; else objecta@<package version> (objecta/observability.py)
    observability: ObservabilitySettings = ObservabilitySettings()

    @property
    def is_production(self) -> bool:
        return self.env == "production"


def _int(env, name, default, problems, minimum=None):
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        problems.append(f"{name} must be an integer, got {raw!r}")
        return default
    if minimum is not None and value < minimum:
        problems.append(f"{name} must be at least {minimum}, got {value}")
    return value


def _bool(env, name, default, problems):
    raw = (env.get(name) or "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    problems.append(f"{name} must be true or false, got {env[name]!r}")
    return default


def _url(env, name, schemes, problems):
    raw = env.get(name) or None
    if raw is None:
        return None
    parts = urlsplit(raw)
    if parts.scheme not in schemes:
        problems.append(
            f"{name} must start with one of {', '.join(s + '://' for s in schemes)}; got {redact(raw)!r}"
        )
        return None
    if not parts.hostname and "host=" not in parts.query:
        problems.append(f"{name} has no host: {redact(raw)!r}")
        return None
    return raw


def _networks(env, name, problems):
    """CIDRs separated by commas; None when unset (every address may reach the admin routes)."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    networks = []
    for part in raw.split(","):
        try:
            networks.append(ipaddress.ip_network(part.strip(), strict=False))
        except ValueError:
            problems.append(f"{name} must be CIDRs separated by commas; {part.strip()!r} is not one")
    return tuple(networks)


def _rate_limits(env, problems) -> RateLimitSettings:
    limits = dict(RATE_LIMIT_DEFAULTS)
    for name in RATE_LIMIT_DEFAULTS:
        key = "RATE_LIMIT_" + name.upper()
        raw = (env.get(key) or "").strip()
        if not raw:
            continue
        count, _, window = raw.partition("/")
        if not (count.isdigit() and window.isdigit() and int(count) >= 1):
            problems.append(f"{key} must be <requests>/<seconds>, e.g. 10/60; got {raw!r}")
            continue
        limits[name] = (int(count), int(window))
    return RateLimitSettings(limits)


def _origins(env, name, problems) -> tuple:
    origins = tuple(o.strip().rstrip("/") for o in (env.get(name) or "").split(",") if o.strip())
    for origin in origins:
        parts = urlsplit(origin)
        if origin == "*" or parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            problems.append(f"{name} must be origins like https://app.example.com, comma-separated; got {origin!r}")
    return origins


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url


def _secret_file(home: Path, name: str) -> str:
    """A development secret generated once and kept under OBJECTA_HOME."""
    path = home / "secrets" / name
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    # Write then rename so two processes starting at once agree on one value.
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(value)
    tmp.chmod(0o600)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_text().strip()


def app_url_for(owner_url: str, role: str, password: str) -> str:
    """The owner's URL with the application role's credentials instead."""
    parts = urlsplit(owner_url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{quote(role)}:{quote(password, safe='')}@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


def load(environ: dict | None = None) -> Settings:
    """Read and validate settings; raise SettingsError listing every problem."""
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []

    mode = env.get("OBJECTA_ENV", "development")
    if mode not in ENVIRONMENTS:
        problems.append(f"OBJECTA_ENV must be one of {', '.join(ENVIRONMENTS)}; got {mode!r}")
        mode = "development"
    production = mode == "production"
    home = Path(env.get("OBJECTA_HOME") or ".objecta").resolve()

    db_url = _url(env, "DATABASE_URL", ("postgresql", "postgres", "postgresql+psycopg"), problems)
    app_db_url = _url(env, "APP_DATABASE_URL", ("postgresql", "postgres", "postgresql+psycopg"), problems)
    redis_url = _url(env, "REDIS_URL", ("redis", "rediss"), problems)
    broker_url = _url(env, "BROKER_URL", ("redis", "rediss", "amqp", "amqps"), problems)
    sentry_dsn = env.get("SENTRY_DSN") or None
    if sentry_dsn and not sentry_dsn.startswith(("http://", "https://")):
        problems.append("SENTRY_DSN must be an http(s) URL")

    jwt_secret = env.get("JWT_SECRET") or None
    admin_secret = env.get("ADMIN_JWT_SECRET") or None
    if production:
        if not admin_secret:
            problems.append("ADMIN_JWT_SECRET is required when OBJECTA_ENV=production")
        elif len(admin_secret) < 32:
            problems.append("ADMIN_JWT_SECRET must be at least 32 characters")
        elif admin_secret == jwt_secret:
            problems.append("ADMIN_JWT_SECRET must differ from JWT_SECRET (two realms, two keys)")
    allowed_networks = _networks(env, "ADMIN_ALLOWED_NETWORKS", problems)
    if production:
        for name, value in (("JWT_SECRET", jwt_secret), ("DATABASE_URL", db_url),
                            ("APP_DATABASE_URL", app_db_url), ("REDIS_URL", redis_url)):
            if not value:
                problems.append(f"{name} is required when OBJECTA_ENV=production")
        if jwt_secret and len(jwt_secret) < 32:
            problems.append("JWT_SECRET must be at least 32 characters")
    app_role = env.get("APP_DB_ROLE") or "objecta_app"
    if app_db_url:
        app_role = urlsplit(app_db_url).username or app_role

    bcrypt_rounds = _int(env, "BCRYPT_ROUNDS", MIN_BCRYPT_ROUNDS, problems, minimum=4)
    if bcrypt_rounds < MIN_BCRYPT_ROUNDS and mode != "test":
        problems.append(f"BCRYPT_ROUNDS below {MIN_BCRYPT_ROUNDS} is only allowed with OBJECTA_ENV=test")

    database = DatabaseSettings(
        url=db_url, app_url=app_db_url, app_role=app_role,
        pool_size=_int(env, "DATABASE_POOL_SIZE", 10, problems, minimum=1),
        embedded_port=_int(env, "EMBEDDED_POSTGRES_PORT", 55432, problems, minimum=1),
    )
    http = HttpSettings(
        host=env.get("HOST", "127.0.0.1"),
        edge_port=_int(env, "EDGE_PORT", 8000, problems, minimum=1),
        relay_port=_int(env, "RELAY_PORT", 8001, problems, minimum=1),
        max_body_bytes=_int(env, "MAX_BODY_BYTES", 1_048_576, problems, minimum=1024),
        app_url=(env.get("APP_URL") or "http://localhost:3000").rstrip("/"),
        trusted_proxies=_networks(env, "TRUSTED_PROXIES", problems) or (),
        frontend_origins=_origins(env, "FRONTEND_ORIGINS", problems),
    )
    access_ttl = _int(env, "ACCESS_TOKEN_TTL", 900, problems, minimum=30)
    refresh_ttl = _int(env, "REFRESH_TOKEN_TTL", 30 * 86400, problems, minimum=60)
    redis = RedisSettings(url=redis_url, embedded_port=_int(env, "EMBEDDED_REDIS_PORT", 56379, problems, minimum=1))
    broker = BrokerSettings(
        url=broker_url, namespace=env.get("BROKER_NAMESPACE") or "objecta",
        heartbeat_timeout_ms=_int(env, "BROKER_HEARTBEAT_TIMEOUT_MS", 60_000, problems, minimum=100),
        maintenance_chance=_int(env, "BROKER_MAINTENANCE_CHANCE", 1000, problems, minimum=1),
        org_concurrency=_int(env, "ORG_CONCURRENCY_PER_QUEUE", 2, problems, minimum=0),
        idle_wait_ms=_int(env, "BROKER_IDLE_WAIT_MS", 1000, problems, minimum=0))
    # `sim:crash` kills a worker process on purpose: any organization could stop a production pool.
    simulated_models = _bool(env, "SIMULATED_MODELS", not production, problems)
    if simulated_models and production:
        problems.append("SIMULATED_MODELS cannot be on when OBJECTA_ENV=production (sim:crash kills workers)")
    commands = CommandSettings(
        max_attempts=_int(env, "COMMAND_MAX_ATTEMPTS", 5, problems, minimum=1),
        time_limit_ms=_int(env, "COMMAND_TIME_LIMIT_MS", 300_000, problems, minimum=1000),
        sweep_queued_after=_int(env, "SWEEP_QUEUED_AFTER", 300, problems, minimum=1),
        sweep_running_after=_int(env, "SWEEP_RUNNING_AFTER", 900, problems, minimum=1))
    if commands.sweep_running_after * 1000 <= commands.time_limit_ms:
        problems.append("SWEEP_RUNNING_AFTER must exceed COMMAND_TIME_LIMIT_MS, or live commands get re-sent")
    sendgrid_host = (env.get("SENDGRID_API_HOST") or "https://api.sendgrid.com").rstrip("/")
    if not sendgrid_host.startswith(("http://", "https://")):
        problems.append(f"SENDGRID_API_HOST must be an http(s) URL; got {sendgrid_host!r}")
    mail = MailSettings(sendgrid_api_key=env.get("SENDGRID_API_KEY") or None, sendgrid_api_host=sendgrid_host,
                        sender=env.get("MAIL_FROM") or "ObjectaLabs <no-reply@objectalabs.local>",
                        outbox=home / "outbox")
    team = TeamSettings(
        invitations_per_hour=_int(env, "INVITATIONS_PER_HOUR", 20, problems, minimum=1),
        invitation_ttl_hours=_int(env, "INVITATION_TTL_HOURS", 168, problems, minimum=1),
        free_plan_seats=_int(env, "FREE_PLAN_SEATS", 5, problems, minimum=1))
    stripe_key = env.get("STRIPE_SECRET_KEY") or None
    stripe_base = (env.get("STRIPE_API_BASE") or "").rstrip("/") or None
    webhook_secret = env.get("STRIPE_WEBHOOK_SECRET") or None
    if stripe_base and not stripe_base.startswith(("http://", "https://")):
        problems.append(f"STRIPE_API_BASE must be an http(s) URL; got {stripe_base!r}")
    if stripe_key and not stripe_key.startswith(("sk_", "rk_")):
        problems.append("STRIPE_SECRET_KEY must be a Stripe secret or restricted key (sk_... or rk_...)")
    if production:
        for name, value in (("STRIPE_SECRET_KEY", stripe_key), ("STRIPE_WEBHOOK_SECRET", webhook_secret)):
            if not value:
                problems.append(f"{name} is required when OBJECTA_ENV=production")
    webhook_tolerance = _int(env, "STRIPE_WEBHOOK_TOLERANCE", 300, problems, minimum=1)
    free_plan_agents = _int(env, "FREE_PLAN_AGENTS", 5, problems, minimum=1)
    free_plan_messages = _int(env, "FREE_PLAN_MESSAGES", 1_000, problems, minimum=1)
    grace_days = _int(env, "BILLING_GRACE_DAYS", 7, problems, minimum=1)
    # Stripe retries a webhook for up to three days: an event kept longer than that is never mistaken
    # for a new one when a late retry arrives.
    event_retention = _int(env, "STRIPE_EVENT_RETENTION_DAYS", 30, problems, minimum=4)
    stripe_port = _int(env, "EMBEDDED_STRIPE_PORT", 58420, problems, minimum=1)
    admin_access_ttl = _int(env, "ADMIN_ACCESS_TOKEN_TTL", 600, problems, minimum=30)
    admin_refresh_ttl = _int(env, "ADMIN_REFRESH_TOKEN_TTL", 12 * 3600, problems, minimum=60)
    admin_attempts = _int(env, "ADMIN_LOGIN_ATTEMPTS", 5, problems, minimum=1)
    log_level = env.get("LOG_LEVEL", "INFO").upper()
    if log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        problems.append(f"LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR; got {log_level!r}")

    analytics = AnalyticsSettings(
        retention_days=_int(env, "ANALYTICS_RETENTION_DAYS", 90, problems, minimum=2),
        high_traffic_per_hour=_int(env, "ANALYTICS_HIGH_TRAFFIC_PER_HOUR", 10_000, problems, minimum=1))

    rate_limits = _rate_limits(env, problems)
    log_format = env.get("LOG_FORMAT", "text").lower()
    if log_format not in ("text", "json"):
        problems.append(f"LOG_FORMAT must be text or json; got {log_format!r}")
    observability = ObservabilitySettings(
        log_format=log_format, metrics_dir=env.get("METRICS_DIR") or str(Path(tempfile.gettempdir()) / "objecta-metrics"),
        worker_metrics_port=_int(env, "WORKER_METRICS_PORT", 9191, problems, minimum=0),
        scheduler_metrics_port=_int(env, "SCHEDULER_METRICS_PORT", 9192, problems, minimum=0))

    if problems:
        raise SettingsError(problems)

    if not jwt_secret:
        jwt_secret = _secret_file(home, "jwt_secret")
    if not admin_secret:
        admin_secret = _secret_file(home, "admin_jwt_secret")
    if not webhook_secret:
        webhook_secret = "whsec_" + _secret_file(home, "stripe_webhook_secret")
    billing = BillingSettings(stripe_secret_key=stripe_key, api_base=stripe_base, webhook_secret=webhook_secret,
                              webhook_tolerance=webhook_tolerance, embedded_port=stripe_port,
                              free_plan_agents=free_plan_agents, free_plan_messages=free_plan_messages,
                              grace_days=grace_days, event_retention_days=event_retention)
    if db_url and not app_db_url:
        # Development and test: derive the application role's URL from the
        # owner's, with a password generated once under OBJECTA_HOME.
        app_db_url = app_url_for(db_url, app_role, _secret_file(home, "app_db_password"))
        database = DatabaseSettings(**{**database.__dict__, "app_url": app_db_url})

    return Settings(
        env=mode, home=home, database=database, redis=redis,
        broker=broker, commands=commands, mail=mail,
        auth=AuthSettings(jwt_secret=jwt_secret, access_token_ttl=access_ttl,
                          refresh_token_ttl=refresh_ttl, bcrypt_rounds=bcrypt_rounds,
                          login_attempts=_int(env, "LOGIN_ATTEMPTS", 5, problems, minimum=1),
                          login_lock_seconds=_int(env, "LOGIN_LOCK_SECONDS", 900, problems, minimum=1),
                          login_daily_attempts=_int(env, "LOGIN_DAILY_ATTEMPTS", 20, problems, minimum=1)),
        http=http, team=team, billing=billing, sentry_dsn=sentry_dsn, log_level=log_level,
        agents=AgentSettings(simulated_models=simulated_models), analytics=analytics, rate_limits=rate_limits,
        observability=observability,
        sentry_release=env.get("SENTRY_RELEASE") or None,
        admin=AdminSettings(jwt_secret=admin_secret, access_token_ttl=admin_access_ttl,
                            refresh_token_ttl=admin_refresh_ttl, mfa_token_ttl=300,
                            allowed_networks=allowed_networks, login_attempts=admin_attempts, attempt_window=900,
                            url=(env.get("ADMIN_URL") or http.app_url + "/admin").rstrip("/")),
    )

