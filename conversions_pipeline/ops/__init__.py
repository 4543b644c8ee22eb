"""Operations: the Dagster instance, executors, schedules and operator signals."""
