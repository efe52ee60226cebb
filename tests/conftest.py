pytest_plugins = ["tests.fixtures.database", "tests.fixtures.redis", "tests.fixtures.app"]
