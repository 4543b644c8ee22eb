"""WARN thresholds of the quality checks, with their documented defaults."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    """WARN thresholds (the quality resource's config; these are the documented defaults)."""

    min_phone_normalized: float = 0.8
    min_email_normalized: float = 0.8
    max_duplicate_share: float = 0.05
    min_valid_currency_share: float = 0.95
    min_strong_key_share: float = 0.9
    min_facebook_click_id_share: float = 0.5
    max_rejected_share: float = 0.01
