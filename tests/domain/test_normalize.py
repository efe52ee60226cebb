"""Migration 0014's rewrite of stored addresses (decision 89): on a collision the account already spelled
canonically keeps the address, else the oldest takes it; the others are left and reported."""

from __future__ import annotations

import importlib.util
from pathlib import Path

MIGRATION = Path(__file__).resolve().parents[2] / "migrations" / "versions" / "0014_account_lifecycle.py"


def _migration():
    spec = importlib.util.spec_from_file_location("migration_0014", MIGRATION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stored_addresses_are_rewritten_and_collisions_keep_the_oldest():
    rows = [(1, "ren\u00e9@example.com"),           # canonical already
            (2, "rene\u0301@example.com"),           # NFD twin of 1: left, reported
            (3, "ada@example.com."),                 # its canonical form is held by 6: left, reported
            (4, "bob@b\u00fccher.example"),          # IDN: rewritten
            (5, '"a>b"<x@example.com'),              # no longer an address: left, reported
            (6, "ada@example.com"),                  # canonical already
            (7, "eve@example.org."),                 # oldest of two spellings: takes the address
            (8, "EVE@example.org.")]                 # younger twin of 7: left, reported
    rewrites, left = _migration().canonical_emails(rows)
    assert rewrites == [(4, "bob@xn--bcher-kva.example"), (7, "eve@example.org")]
    assert [user_id for user_id, _, _ in left] == [2, 3, 5, 8]
