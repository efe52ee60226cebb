import hashlib
import logging
import tempfile
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.fixtures.database", "tests.fixtures.redis", "tests.fixtures.app", "tests.fixtures.worker",
    "tests.fixtures.relay", "tests.fixtures.mail", "tests.fixtures.stripe",
    "tests.fixtures.stripe_proxy", "tests.fixtures.sentry",
]

logging.getLogger("httpx").setLevel(logging.WARNING)


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """A temporary base of this checkout's own: pytest prunes old `pytest-of-<user>/pytest-N` folders,
    and a run from another worktree on this machine was pruning ours mid-run (the embedded
    Postgres lost its data directory). `--basetemp` still wins when given."""
    if config.option.basetemp is None:
        digest = hashlib.sha256(str(config.rootpath).encode()).hexdigest()[:10]
        config.option.basetemp = str(Path(tempfile.gettempdir()) / f"objecta-pytest-{digest}")
