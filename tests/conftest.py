import logging

pytest_plugins = [
    "tests.fixtures.database", "tests.fixtures.redis", "tests.fixtures.app", "tests.fixtures.worker",
    "tests.fixtures.relay", "tests.fixtures.mail",
]

logging.getLogger("httpx").setLevel(logging.WARNING)
