"""Every cron entry of the platform, in one table.

The scheduler runs `periodiq workers.broker schedules`; workers of the
`maintenance` queue import this module too, since the ticks run there.
Times are in the scheduler's time zone: run it with TZ=UTC.
"""

from datetime import timedelta

from workers.scheduled import Entry, declare_ticks

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

ticks = declare_ticks(TABLE)
