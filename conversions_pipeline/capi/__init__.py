"""Conversions API: client, emulator, ledger and the upload of a partition-day."""
