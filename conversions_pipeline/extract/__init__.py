"""Extract: read each partition-day of the source tables and hash customer information."""
