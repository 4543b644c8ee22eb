"""The warehouse as a Dagster resource, configured from the environment."""

from __future__ import annotations

import os
from datetime import date
from functools import lru_cache

import dagster as dg
from pydantic import Field
from sqlalchemy.engine import Engine

from .. import settings
from .engine import create_warehouse_engine
from .locks import day_lock


@lru_cache(maxsize=8)
def _engine(url: str, schema: str | None) -> Engine:
    return create_warehouse_engine(url, schema)


class WarehouseResource(dg.ConfigurableResource):
    """Where the source tables, staged tables and the ledger live.

    ``url`` is a SQLAlchemy URL (set it from ``WAREHOUSE_URL``); when empty, the embedded default
    SQLite file in the local data folder is used.
    """

    url: str | None = Field(default=None, description="SQLAlchemy URL; empty means the embedded SQLite default")
    schema_name: str | None = Field(default=None, description="PostgreSQL schema holding every table")
    lock_wait_seconds: float = Field(default=300.0, description="how long a step waits for another run of the "
                                                                "same day and step before it stops")

    def get_engine(self) -> Engine:
        return _engine(self.url or os.environ.get("WAREHOUSE_URL") or settings.default_warehouse_url(),
                       self.schema_name or os.environ.get("WAREHOUSE_SCHEMA") or None)

    def day_lock(self, day: date, step: str, log=None):
        """One run at a time per day and step (see :mod:`.locks`)."""
        return day_lock(self.get_engine(), day, step, self.lock_wait_seconds, on_wait=log)
