"""One run per partition-day and step at a time, across processes and machines.

Two runs of the same day (a schedule tick during a manual re-run, overlapping backfills) would
otherwise send every event twice and double the day's tables. Each step of a day (extract of one
source, events, upload) holds a lock named after the warehouse, the day and the step while it
works: a PostgreSQL advisory lock (released by the server if the process dies), or on SQLite an
OS file lock beside the database file (released by the kernel if the process dies). A second run
waits up to ``wait_seconds`` and then stops with a message that says why.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from ..errors import PipelineError

POLL_SECONDS = 0.25


class LockTimeout(PipelineError):
    """Another run held the day's step longer than we were willing to wait."""


def _busy(day: date, step: str, waited: float) -> LockTimeout:
    return LockTimeout(f"another run is working on {step} for {day} (waited {waited:.0f}s); let it finish, or "
                       "cancel it in the Dagster UI, then run this day again")


@contextmanager
def day_lock(engine: Engine, day: date, step: str, wait_seconds: float = 300.0, on_wait=None) -> Iterator[None]:
    """Hold the lock of ``step`` for ``day`` on this warehouse for the duration of the block."""
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine, day, step, wait_seconds, on_wait):
            yield
    elif engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        with _file_lock(Path(engine.url.database), day, step, wait_seconds, on_wait):
            yield
    else:  # an in-memory SQLite database lives in one process; other dialects: no cross-run lock
        yield


def _key(engine: Engine, day: date, step: str) -> int:
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None) or ""
    digest = hashlib.sha256(f"conversions_pipeline|{schema}|{day.isoformat()}|{step}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _acquire(try_lock, day: date, step: str, wait_seconds: float, on_wait) -> None:
    """Call ``try_lock`` until it succeeds, saying once that we wait; stop after ``wait_seconds``."""
    started, told = time.monotonic(), False
    while not try_lock():
        waited = time.monotonic() - started
        if waited > wait_seconds:
            raise _busy(day, step, waited)
        if on_wait and not told:
            on_wait(f"{step} for {day} is locked by another run; waiting up to {wait_seconds:.0f}s")
            told = True
        time.sleep(POLL_SECONDS)


@contextmanager
def _advisory_lock(engine: Engine, day: date, step: str, wait_seconds: float, on_wait) -> Iterator[None]:
    key = _key(engine, day, step)
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        _acquire(lambda: conn.execute(sa.select(sa.func.pg_try_advisory_lock(key))).scalar_one(),
                 day, step, wait_seconds, on_wait)
        try:
            yield
        finally:
            conn.execute(sa.select(sa.func.pg_advisory_unlock(key)))


@contextmanager
def _file_lock(database: Path, day: date, step: str, wait_seconds: float, on_wait) -> Iterator[None]:
    folder = database.parent / f"{database.name}.locks"
    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / f"{day.isoformat()}.{step.replace('/', '_')}.lock", os.O_RDWR | os.O_CREAT, 0o600)

    def try_lock() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            return False

    try:
        _acquire(try_lock, day, step, wait_seconds, on_wait)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
