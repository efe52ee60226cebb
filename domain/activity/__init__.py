"""The organization's activity log: who did what, written in the transaction that did it."""
