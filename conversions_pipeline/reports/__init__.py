"""Reconciliation: the SQL models as assets, and the CallRail-vs-Facebook report."""
