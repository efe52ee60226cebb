"""Every cron entry of the platform, in one table (data only: nothing here runs).

`workers/maintenance.py` declares a tick actor per entry, so the scheduler runs
`periodiq workers.broker workers.maintenance`, and the `maintenance` pool,
which runs the ticks, imports it anyway. Times are in the scheduler's time
zone: run it with TZ=UTC.
"""

from dataclasses import dataclass
from datetime import timedelta

from domain.jobs import JobKind


@dataclass(frozen=True)
class Entry:
    job: str  # also the name of the actor that does the work
    cron: str  # in the scheduler's local time zone; run it with TZ=UTC
    queue: str  # where the job's actor runs
    catch_up: timedelta | None = None  # how far back a missed period is still run

    @property
    def kind(self) -> JobKind:
        return JobKind(self.job, queue=self.queue)


TABLE = (
    # Re-send commands whose enqueue was lost between commit and broker, or
    # whose worker and message both vanished (workers/maintenance.py).
    Entry("commands.sweep", "* * * * *", queue="maintenance"),
    # Re-queue Stripe webhook events stored but never handled (workers/maintenance.py).
    Entry("billing.sweep_events", "* * * * *", queue="maintenance"),
    # Delete handled Stripe events older than STRIPE_EVENT_RETENTION_DAYS (docs/billing.md).
    Entry("billing.prune_events", "30 4 * * *", queue="maintenance"),
    # Apply downgrades whose paid period ends within the hour (docs/billing.md; workers/maintenance.py).
    Entry("billing.apply_downgrades", "*/5 * * * *", queue="maintenance"),
    # Remind of trials ending within three days, when Stripe's trial_will_end has not (docs/billing.md).
    Entry("billing.remind_trials", "0 9 * * *", queue="maintenance"),
    # Restrict organizations whose failed payment is older than BILLING_GRACE_DAYS (docs/billing.md).
    Entry("billing.check_grace", "15 3 * * *", queue="maintenance"),
    # Yesterday's analytics (a UTC day) rolled up at 2 AM; catches up on missed
    # nights for a week (workers/aggregation.py, docs/analytics.md).
    Entry("analytics.aggregate_daily", "0 2 * * *", queue="aggregation", catch_up=timedelta(days=7)),
    # Days that received late events rolled up again (docs/analytics.md).
    Entry("analytics.aggregate_late", "*/10 * * * *", queue="aggregation"),
    # Analytics partitions: next month's created, months past ANALYTICS_RETENTION_DAYS dropped.
    Entry("analytics.keep_partitions", "30 1 * * *", queue="aggregation", catch_up=timedelta(days=3)),
    # Re-send analytics batches kept but not finished after two minutes (workers/maintenance.py).
    Entry("analytics.sweep_batches", "* * * * *", queue="maintenance"),
)
