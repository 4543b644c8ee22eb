"""A bounded, logged wait for the SQLite writer.

SQLite has one writer at a time: when several steps write at once (the five extracts of a day
under the multiprocess executor, a backfill running days side by side), a step first waits inside
SQLite (``busy_timeout``) and, if the other writer takes longer, fails with "database is locked".
:func:`retry_when_locked` then runs the step's write again after a pause, saying so in the log,
until ``max_wait_seconds`` have passed. Every step's writes are idempotent (a day is replaced, the
ledger is synced), so running one again is safe.
"""

from __future__ import annotations

import logging
import time

import sqlalchemy as sa

LOCKED_MESSAGES = ("database is locked", "database table is locked")
logger = logging.getLogger("conversions_pipeline.warehouse")


def is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sa.exc.OperationalError) and any(m in str(exc) for m in LOCKED_MESSAGES)


def retry_when_locked(work, *, what: str, log=None, max_wait_seconds: float = 600.0, first_delay: float = 1.0):
    """``work()``, run again (after 1, 2, 4 ... 30 s) while the warehouse is locked by another writer."""
    say = log or logger.warning
    delay, waited = first_delay, 0.0
    while True:
        try:
            return work()
        except sa.exc.OperationalError as exc:
            if not is_locked(exc) or waited >= max_wait_seconds:
                raise
            say(f"{what}: the warehouse is busy with another writer; trying again in {delay:.0f}s "
                f"({waited:.0f}s of at most {max_wait_seconds:.0f}s waited)")
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, 30.0)
