"""Worker pools, one module per queue.

Importing any `workers.<queue>` module first imports `workers.broker`, which
installs the broker: Dramatiq's implicit default broker never gets a chance.
"""

from workers import broker as _broker  # noqa: F401  (must precede every actor)
