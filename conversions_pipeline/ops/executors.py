"""Where the daily job's steps run, chosen by ``CONVERSIONS_EXECUTOR``:

* ``in_process`` (default): every step in the run's own process; a demo-sized day takes seconds
  (a process per step costs about 13 s each on a 2-core machine);
* ``multiprocess``: a process per step (independent steps side by side);
* ``celery``: steps go to Celery workers (dagster-celery) through ``CELERY_BROKER_URL``
  (default ``amqp://guest:guest@127.0.0.1:5672//``) and ``CELERY_DEFAULT_QUEUE`` (default
  ``dagster``), so many days run on other machines.
"""

from __future__ import annotations

import os

import dagster as dg

from ..errors import ConfigError

EXECUTORS = ("in_process", "multiprocess", "celery")
DEFAULT_BROKER = "amqp://guest:guest@127.0.0.1:5672//"


def executor_name() -> str:
    name = (os.environ.get("CONVERSIONS_EXECUTOR") or "in_process").strip().lower()
    if name not in EXECUTORS:
        raise ConfigError(f"CONVERSIONS_EXECUTOR must be one of {', '.join(EXECUTORS)}")
    return name


def job_executor() -> dg.ExecutorDefinition:
    name = executor_name()
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor.configured({"max_concurrent": 5})
    try:
        from dagster_celery import celery_executor
    except ImportError:
        raise ConfigError("CONVERSIONS_EXECUTOR=celery needs dagster-celery: uv sync --extra celery") from None
    config = {"broker": os.environ.get("CELERY_BROKER_URL") or DEFAULT_BROKER,
              "backend": os.environ.get("CELERY_RESULT_BACKEND") or "rpc://"}
    if os.environ.get("CELERY_DEFAULT_QUEUE"):  # the queue the workers listen on (`-q`); default "dagster"
        config["config_source"] = {"task_default_queue": os.environ["CELERY_DEFAULT_QUEUE"]}
    return celery_executor.configured(config)
