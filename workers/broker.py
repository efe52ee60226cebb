"""The broker for worker and scheduler processes, installed at import.

`dramatiq workers.broker workers.agents ...` and `periodiq workers.broker
schedules` name this module first. This is the one place configuration
happens at import time, because Dramatiq's CLI wants a module-level broker.
"""

import dramatiq

from objecta import observability
from objecta import settings as settings_module
from objecta.broker import build_broker

settings = settings_module.get()
observability.setup(settings, "worker", dramatiq=True)
broker = build_broker(settings)
dramatiq.set_broker(broker)
