"""Errors that carry a one-line message naming what the user should fix."""


class PipelineError(Exception):
    """Base class: the message is shown to the user as is, on one line."""


class WarehouseError(PipelineError):
    """The warehouse URL, connection or contract is not usable."""


class PartitionError(PipelineError):
    """A requested partition-day is outside the configured range."""


class ConfigError(PipelineError):
    """A setting (environment variable or run config) is missing or malformed."""
