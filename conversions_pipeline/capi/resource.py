"""The Conversions API as a Dagster resource, configured from the environment.

The destination is explicit: ``meta`` (the default as soon as anything is configured) or
``emulator`` (asked for with ``CAPI_DESTINATION=emulator``, or the embedded default with nothing
configured). An emulator without a base URL is started in this process, so the demo needs no
credentials. See :func:`conversions_pipeline.settings.destination`.
"""

from __future__ import annotations

import os
import threading

import dagster as dg
from pydantic import Field

from .. import settings
from ..errors import ConfigError
from .client import ConversionsApiClient
from .emulator import EmulatorServer

EMULATOR_TOKEN = "EMULATOR-LOCAL-TOKEN"
_embedded: EmulatorServer | None = None
_embedded_lock = threading.Lock()


def embedded_emulator() -> EmulatorServer:
    """The process-wide emulator of the embedded default, started on first use."""
    global _embedded
    with _embedded_lock:
        if _embedded is None:
            _embedded = EmulatorServer().start()
        return _embedded


class ConversionsApiResource(dg.ConfigurableResource):
    """Meta's Conversions API (or the local emulator).

    Fields left empty come from the environment at run time (:func:`settings.destination`, which
    the Definitions also validate when they load), so run config that changes one field (say
    ``backoff_seconds``) never drops the destination."""

    destination: str | None = Field(default=None, description="meta or emulator; CAPI_DESTINATION")
    pixel_id: str | None = Field(default=None, description="default pixel (dataset) id; FB_PIXEL_ID")
    access_token: str | None = Field(default=None, description="system-user token; FB_ACCESS_TOKEN")
    base_url: str | None = Field(default=None, description="Graph API base URL; FB_GRAPH_BASE_URL")
    api_version: str | None = Field(default=None, description="Graph API version, e.g. v25.0; FB_API_VERSION")
    test_event_code: str | None = Field(default=None, description="FB_TEST_EVENT_CODE; remove in production")
    partner_agent: str | None = "conversions_pipeline"
    timeout_seconds: float = Field(default=10.0, description="total time for one request, answer included")
    batch_size: int = Field(default=1000, description="events per request, at most 1000")
    max_in_flight: int = Field(default=4, description="requests in flight at once per run")
    max_attempts: int = 6
    max_retry_seconds: float = 300.0
    backoff_seconds: float = 0.5
    max_upload_seconds: float = Field(default=3600.0, description="wall-clock bound on one day's upload; "
                                                                  "what is left stays pending")
    dry_run_dir: str | None = Field(default=None, description="write request bodies here instead of sending")

    def target(self) -> settings.Destination:
        """The validated destination: these fields where set, else the environment's."""
        kind = (self.destination or settings.destination().kind).strip().lower()
        if kind not in settings.DESTINATIONS:
            raise ConfigError(f"destination must be meta or emulator, not '{kind[:20]}'")
        env = settings.destination() if not (self.pixel_id and (self.base_url or kind == "emulator")) else None
        pixel = self.pixel_id or (env.pixel_id if env and env.kind == kind else None)
        if kind == "emulator":
            pixel = pixel or settings.EMULATOR_PIXEL_ID
        if not pixel:
            raise ConfigError("FB_PIXEL_ID is not set: set it to the pixel (dataset) id, or CAPI_DESTINATION=emulator")
        base = self.base_url or (env.base_url if env else None)
        if kind == "meta":
            base = base or settings.DEFAULT_GRAPH_BASE_URL
        version = self.api_version or (env.api_version if env else settings.DEFAULT_API_VERSION)
        return settings.Destination(kind, settings.check_pixel_id(pixel),
                                    settings.check_base_url(base) if base else None,
                                    settings.check_api_version(version))

    def uses_emulator(self) -> bool:
        return self.target().kind == "emulator"

    def default_pixel(self) -> str:
        """The pixel events are built for and sent to (validated: digits only)."""
        return self.target().pixel_id

    def describe(self) -> str:
        return self.target().describe()

    def client(self) -> ConversionsApiClient:
        target = self.target()
        token = self.access_token or os.environ.get("FB_ACCESS_TOKEN") or ""
        if target.kind == "emulator":
            base_url = target.base_url or embedded_emulator().base_url
            token = token or EMULATOR_TOKEN
        else:
            base_url = target.base_url
        return ConversionsApiClient(
            base_url, target.api_version, token,
            test_event_code=self.test_event_code or os.environ.get("FB_TEST_EVENT_CODE") or None,
            partner_agent=self.partner_agent, timeout_seconds=self.timeout_seconds, max_attempts=self.max_attempts,
            max_retry_seconds=self.max_retry_seconds, backoff_seconds=self.backoff_seconds,
            max_connections=self.max_in_flight, dry_run_dir=self.dry_run_dir, destination=target.kind)
