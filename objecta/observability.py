"""Logging and Sentry, set up the same way in every process."""

from __future__ import annotations

import logging

from objecta.settings import Settings


def setup(settings: Settings, process: str, *, dramatiq: bool = False) -> None:
    logging.basicConfig(level=settings.log_level,
                        format=f"%(asctime)s %(levelname)s {process} %(name)s: %(message)s")
    if settings.sentry_dsn:
        import sentry_sdk

        integrations = []
        if dramatiq:
            from sentry_sdk.integrations.dramatiq import DramatiqIntegration
            integrations.append(DramatiqIntegration())
        sentry_sdk.init(dsn=settings.sentry_dsn, environment=settings.env, server_name=process,
                        traces_sample_rate=0.0, send_default_pii=False, integrations=integrations)
