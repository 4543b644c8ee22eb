"""The Conversions API as a Dagster resource, configured from the environment.

With no pixel configured (no ``FB_PIXEL_ID``) and no base URL, the embedded default applies: a
Graph API emulator is started in this process and used, so the demo needs no credentials.
"""

from __future__ import annotations

import threading

import dagster as dg
from pydantic import Field

from .. import settings
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
    """Meta's Conversions API (or the local emulator)."""

    pixel_id: str | None = Field(default=None, description="default pixel (dataset) id; FB_PIXEL_ID")
    access_token: str | None = Field(default=None, description="system-user token; FB_ACCESS_TOKEN")
    base_url: str | None = Field(default=None, description="Graph API base URL; FB_GRAPH_BASE_URL")
    api_version: str = Field(default=settings.DEFAULT_API_VERSION, description="Graph API version, e.g. v25.0")
    test_event_code: str | None = Field(default=None, description="FB_TEST_EVENT_CODE; remove in production")
    partner_agent: str | None = "conversions_pipeline"
    timeout_seconds: float = 10.0
    batch_size: int = Field(default=1000, description="events per request, at most 1000")
    max_in_flight: int = Field(default=4, description="requests in flight at once per run")
    max_attempts: int = 6
    max_retry_seconds: float = 300.0
    backoff_seconds: float = 0.5
    dry_run_dir: str | None = Field(default=None, description="write request bodies here instead of sending")

    def uses_emulator(self) -> bool:
        return not self.pixel_id and not self.base_url

    def default_pixel(self) -> str:
        return self.pixel_id or settings.EMULATOR_PIXEL_ID

    def client(self) -> ConversionsApiClient:
        if self.uses_emulator():
            base_url, token = embedded_emulator().base_url, self.access_token or EMULATOR_TOKEN
        else:
            base_url, token = self.base_url or settings.DEFAULT_GRAPH_BASE_URL, self.access_token or ""
        return ConversionsApiClient(
            base_url, self.api_version, token, test_event_code=self.test_event_code,
            partner_agent=self.partner_agent, timeout_seconds=self.timeout_seconds, max_attempts=self.max_attempts,
            max_retry_seconds=self.max_retry_seconds, backoff_seconds=self.backoff_seconds,
            max_connections=self.max_in_flight, dry_run_dir=self.dry_run_dir)
