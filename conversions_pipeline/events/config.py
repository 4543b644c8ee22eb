"""Which leads become which events: Dagster config with sensible defaults, or a YAML file."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import dagster as dg
import yaml
from pydantic import Field, field_validator

from ..errors import PipelineError
from ..meta import PIXEL_ID_PATTERN, check_event_name
from .names import canonical_event_name

FORMATS = ("calls", "texts", "forms", "orders")
FORMAT_TABLES = {"calls": "calls", "texts": "text_messages", "forms": "form_submissions", "orders": "orders"}


class PixelRoute(dg.Config):
    """Send a format and/or a company's events to another pixel (dataset); first match wins."""

    pixel_id: str
    format: str | None = None
    company_id: str | None = None

    @field_validator("pixel_id")
    @classmethod
    def _digits(cls, value: str) -> str:
        if not PIXEL_ID_PATTERN.match(value or ""):
            raise ValueError("pixel_routes: a pixel id is digits only, as Events Manager shows it")
        return value


class EventsConfig(dg.Config):
    """How the day's leads and orders become server events."""

    config_file: str | None = Field(default=None, description="YAML file whose keys override these defaults")
    send_calls: bool = True
    send_texts: bool = True
    send_forms: bool = True
    send_orders: bool = True
    call_event: str = "Lead"
    text_event: str = "Contact"
    form_event: str = "Lead"
    order_event: str = "Purchase"
    qualified_event: str | None = Field(
        default=None, description="a second event for leads marked good_lead, e.g. QualifiedLead or Schedule")
    first_time_callers_only: bool = False
    min_call_duration: int = 0
    answered_only: bool = False
    inbound_only: bool = True
    good_leads_only: bool = False
    exclude_spam: bool = True
    session_window_minutes: int = 30
    default_currency: str = "USD"
    pixel_id: str | None = Field(default=None, description="default pixel; FB_PIXEL_ID when empty")
    pixel_routes: list[PixelRoute] = Field(default_factory=list)
    ldu: Literal["off", "all", "california"] = "off"
    opt_out: bool = False
    max_age_days: int = 7
    physical_store_max_age_days: int = 62
    max_future_seconds: int = 60

    @field_validator("call_event", "text_event", "form_event", "order_event", "qualified_event")
    @classmethod
    def _canonical(cls, value: str | None) -> str | None:
        if value is None:
            return None
        name = canonical_event_name(value)
        problem = check_event_name(name)
        if problem:
            raise ValueError(f"event name '{name[:60]}' {problem}")
        return name

    @field_validator("pixel_id")
    @classmethod
    def _pixel(cls, value: str | None) -> str | None:
        if value is not None and not PIXEL_ID_PATTERN.match(value):
            raise ValueError("pixel_id is digits only, as Events Manager shows it")
        return value

    def enabled(self, fmt: str) -> bool:
        return getattr(self, f"send_{fmt}")

    def event_name(self, fmt: str) -> str:
        return getattr(self, {"calls": "call_event", "texts": "text_event", "forms": "form_event",
                              "orders": "order_event"}[fmt])

    def resolved(self) -> "EventsConfig":
        """This config with the YAML file's values applied (the file wins over defaults)."""
        if not self.config_file:
            return self
        path = Path(self.config_file)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise PipelineError(f"events config file {path} does not exist; fix config_file") from None
        except yaml.YAMLError as exc:
            raise PipelineError(f"events config file {path} is not valid YAML ({exc.__class__.__name__}); "
                                "fix it") from None
        if not isinstance(data, dict):
            raise PipelineError(f"events config file {path} must be a mapping of settings")
        unknown = sorted(set(data) - set(type(self).model_fields))
        if unknown:
            raise PipelineError(f"events config file {path} has unknown setting(s) {', '.join(unknown)}")
        try:
            return type(self)(**{**self.model_dump(exclude={"config_file"}), **data})
        except ValueError as exc:  # pydantic's ValidationError: one line per problem
            problems = "; ".join(e.get("msg", "") for e in getattr(exc, "errors", lambda: [])()) or str(exc)
            raise PipelineError(f"events config file {path}: {problems}") from None
