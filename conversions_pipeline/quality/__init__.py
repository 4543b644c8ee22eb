"""Quality gates: great-expectations suites run as Dagster asset checks, results kept in dq_results."""
