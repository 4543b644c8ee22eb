"""Settings read from the environment, at run time only (never at import time).

=====================  ===========================================================
variable               meaning
=====================  ===========================================================
WAREHOUSE_URL          SQLAlchemy URL of the warehouse; default: SQLite file in ./data
WAREHOUSE_SCHEMA       optional schema (PostgreSQL) holding every table
CONVERSIONS_DATA_DIR   local data folder for the embedded default (default ./data)
PARTITIONS_START_DATE  first partition-day, YYYY-MM-DD (default 2024-01-01)
PARTITIONS_TIMEZONE    time zone of the partition-days (default UTC)
FB_PIXEL_ID            Meta pixel (dataset) id; unset: the embedded emulator
FB_ACCESS_TOKEN        system-user access token (read by Dagster's EnvVar, never logged)
FB_GRAPH_BASE_URL      Graph API base URL (default https://graph.facebook.com)
FB_API_VERSION         Graph API version (default v25.0)
FB_TEST_EVENT_CODE     Events Manager test code
=====================  ===========================================================
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_START_DATE = "2024-01-01"
DEFAULT_TIMEZONE = "UTC"


def data_dir() -> Path:
    return Path(os.environ.get("CONVERSIONS_DATA_DIR") or "data")


def default_warehouse_url() -> str:
    return f"sqlite:///{(data_dir() / 'warehouse.db').as_posix()}"


def warehouse_url() -> str:
    return os.environ.get("WAREHOUSE_URL") or default_warehouse_url()


def warehouse_schema() -> str | None:
    return os.environ.get("WAREHOUSE_SCHEMA") or None


def partitions_start_date() -> str:
    return os.environ.get("PARTITIONS_START_DATE") or DEFAULT_START_DATE


def partitions_timezone() -> str:
    return os.environ.get("PARTITIONS_TIMEZONE") or DEFAULT_TIMEZONE


EMULATOR_PIXEL_ID = "1000000000000001"
"""Pixel id used with the bundled Graph API emulator when FB_PIXEL_ID is not set."""


def fb_pixel_id() -> str:
    return os.environ.get("FB_PIXEL_ID") or EMULATOR_PIXEL_ID


DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"


def fb_api_version() -> str:
    return os.environ.get("FB_API_VERSION") or DEFAULT_API_VERSION
