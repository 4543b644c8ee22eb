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
CAPI_DESTINATION       meta or emulator; default: emulator only for the embedded default
                       (no WAREHOUSE_URL and no FB_* variable), else meta
FB_AD_ACCOUNT_ID       ad account whose insights are read (with or without act_)
FB_ATTRIBUTION_WINDOWS attribution windows of the insights read (default 7d_click,1d_view)
=====================  ===========================================================

:func:`validate` checks all of them before any work and fails with one line naming the fix.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .meta import API_VERSION_PATTERN, PIXEL_ID_PATTERN

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


DEFAULT_GRAPH_BASE_URL = "https://graph.facebook.com"
DEFAULT_API_VERSION = "v25.0"


def fb_api_version() -> str:
    return os.environ.get("FB_API_VERSION") or DEFAULT_API_VERSION


FB_VARIABLES = ("FB_PIXEL_ID", "FB_ACCESS_TOKEN", "FB_GRAPH_BASE_URL", "FB_API_VERSION", "FB_TEST_EVENT_CODE",
                "FB_AD_ACCOUNT_ID", "FB_ATTRIBUTION_WINDOWS")
EMULATOR_AD_ACCOUNT_ID = "1000000000000002"
ATTRIBUTION_WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view", "7d_view")
DEFAULT_ATTRIBUTION_WINDOWS = ("7d_click", "1d_view")


def ad_account_id(kind: str) -> str | None:
    """The ad account (digits, without ``act_``) whose insights are read; the emulator's own under
    the emulator; None when not configured for Meta."""
    raw = _env("FB_AD_ACCOUNT_ID")
    if raw is None:
        return EMULATOR_AD_ACCOUNT_ID if kind == "emulator" else None
    digits = raw.removeprefix("act_")
    if not PIXEL_ID_PATTERN.match(digits):
        raise ConfigError("FB_AD_ACCOUNT_ID must be the ad account id, digits with or without act_ (act_1234567890)")
    return digits


def attribution_windows() -> tuple[str, ...]:
    raw = _env("FB_ATTRIBUTION_WINDOWS")
    if raw is None:
        return DEFAULT_ATTRIBUTION_WINDOWS
    windows = tuple(w.strip() for w in raw.split(",") if w.strip())
    unknown = [w for w in windows if w not in ATTRIBUTION_WINDOWS]
    if not windows or unknown:
        raise ConfigError(f"FB_ATTRIBUTION_WINDOWS takes a comma-separated list of {', '.join(ATTRIBUTION_WINDOWS)}")
    return windows
DESTINATIONS = ("meta", "emulator")


@dataclass(frozen=True)
class Destination:
    """Where events go, decided once from the environment (see :func:`destination`)."""

    kind: str  # meta or emulator
    pixel_id: str
    base_url: str | None  # None: the emulator embedded in this process
    api_version: str

    def describe(self) -> str:
        where = self.base_url or "the embedded emulator"
        return f"{'Meta' if self.kind == 'meta' else 'emulator'} ({where}), pixel {self.pixel_id}"


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    return value.strip() if value and value.strip() else None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """A Graph API base URL with a scheme, https unless it points at this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"FB_GRAPH_BASE_URL '{url}' has no http(s) scheme and host; write it as "
                          "https://graph.facebook.com")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ConfigError(f"FB_GRAPH_BASE_URL uses plain http to {parts.hostname}: the token would cross the network "
                          "unencrypted; use https (http is allowed only for 127.0.0.1 or localhost)")
    if parts.query or parts.fragment:
        raise ConfigError("FB_GRAPH_BASE_URL must not carry a query or fragment; write it as https://graph.facebook.com")
    return url.rstrip("/")


def check_pixel_id(pixel: str, name: str = "FB_PIXEL_ID") -> str:
    if not PIXEL_ID_PATTERN.match(pixel or ""):
        raise ConfigError(f"{name} must be the pixel (dataset) id, digits only, as Events Manager shows it")
    return pixel


def check_api_version(version: str) -> str:
    if not API_VERSION_PATTERN.match(version):
        raise ConfigError(f"FB_API_VERSION '{version[:20]}' is not a Graph API version; "
                          f"write it like {DEFAULT_API_VERSION}")
    return version


def destination() -> Destination:
    """Where the events of this run go, or one line naming what to set.

    The emulator only when asked (``CAPI_DESTINATION=emulator``) or when the whole configuration is
    the embedded default (no ``WAREHOUSE_URL`` and no ``FB_*`` variable); otherwise Meta, which
    needs ``FB_PIXEL_ID`` and ``FB_ACCESS_TOKEN``: a deployment missing either fails before any work."""
    asked = _env("CAPI_DESTINATION")
    if asked is not None and asked.lower() not in DESTINATIONS:
        raise ConfigError(f"CAPI_DESTINATION must be meta or emulator, not '{asked[:20]}'")
    version = check_api_version(_env("FB_API_VERSION") or DEFAULT_API_VERSION)
    base = _env("FB_GRAPH_BASE_URL")
    base = check_base_url(base) if base else None
    pixel = _env("FB_PIXEL_ID")
    if pixel is not None:
        check_pixel_id(pixel)
    embedded_default = not _env("WAREHOUSE_URL") and not any(_env(v) for v in FB_VARIABLES)
    kind = asked.lower() if asked else ("emulator" if embedded_default else "meta")
    if kind == "emulator":
        return Destination("emulator", pixel or EMULATOR_PIXEL_ID, base, version)
    token = _env("FB_ACCESS_TOKEN")
    if not pixel and not token:
        raise ConfigError("no destination: set FB_PIXEL_ID and FB_ACCESS_TOKEN to send to Meta, or "
                          "CAPI_DESTINATION=emulator to send to the local emulator")
    if not pixel:
        raise ConfigError("FB_ACCESS_TOKEN is set but FB_PIXEL_ID is not: set FB_PIXEL_ID to the pixel (dataset) id "
                          "(or CAPI_DESTINATION=emulator for the local emulator)")
    if not token:
        raise ConfigError("FB_PIXEL_ID is set but FB_ACCESS_TOKEN is not: set FB_ACCESS_TOKEN to a system-user token "
                          "for that pixel")
    return Destination("meta", pixel, base or DEFAULT_GRAPH_BASE_URL, version)


def check_partitions() -> None:
    start = partitions_start_date()
    try:
        date.fromisoformat(start)
    except ValueError:
        raise ConfigError(f"PARTITIONS_START_DATE '{start[:20]}' is not a date; write it as YYYY-MM-DD") from None
    tz = partitions_timezone()
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"PARTITIONS_TIMEZONE '{tz[:40]}' is not an IANA time zone; use e.g. UTC or "
                          "America/New_York") from None


def validate() -> Destination:
    """Every setting, checked before any work; returns the destination."""
    check_partitions()
    target = destination()
    ad_account_id(target.kind)
    attribution_windows()
    return target
