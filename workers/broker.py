"""The broker for worker and scheduler processes, installed at import.

`dramatiq workers.broker workers.agents ...` and `periodiq workers.broker
workers.maintenance` name this module first. This is the one place configuration
happens at import time, because Dramatiq's CLI wants a module-level broker.
"""

import sys
from pathlib import Path

import dramatiq

from objecta import observability
from objecta.broker import build_broker
from objecta.settings import load

settings = load()
# `periodiq workers.broker ...` (the scheduler) imports this module too: name it apart in logs and Sentry.
observability.setup(settings, "scheduler" if "periodiq" in Path(sys.argv[0]).name else "worker", dramatiq=True)
broker = build_broker(settings)
dramatiq.set_broker(broker)
