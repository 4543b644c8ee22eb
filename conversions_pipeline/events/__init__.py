"""Events: turn each day's staged leads and orders into Conversions API server events."""
