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
scheduler = Path(sys.argv[0]).name == "periodiq"  # periodiq imports this module too
observability.setup(settings, "scheduler" if scheduler else "worker", dramatiq=True)
broker = build_broker(settings)
dramatiq.set_broker(broker)

if scheduler:
    import signal

    # periodiq dies of SIGTERM (status -15) and exits 1 on SIGINT. An orchestrator's stop should be a clean
    # exit: between ticks nothing is in flight, and a period whose tick was cut short is claimed by the next.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

if scheduler and settings.observability.scheduler_metrics_port:
    # The scheduler's exporter, in a thread; it also reads the queues' figures from the broker when scraped.
    from prometheus_client import REGISTRY

    from objecta.metrics import QueueCollector, serve

    REGISTRY.register(QueueCollector(settings))
    serve(settings.observability.scheduler_metrics_port, host=settings.http.host)
