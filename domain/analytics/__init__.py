"""Analytics: events sent in batches, hot counters, the nightly roll-up and the reports (docs/analytics.md)."""
