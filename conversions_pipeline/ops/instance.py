"""One Dagster instance for the CLI and the UI.

Unless ``DAGSTER_HOME`` is set, the instance lives in ``<data folder>/dagster`` (``data/dagster`` by
default) with the shipped ``dagster.yaml`` (run queue and pool limits); ``conversions-pipeline ui``
starts ``dagster dev`` on that same folder, so what the demo and ``run`` did is there when the UI
opens. Production points ``DAGSTER_HOME`` at a folder holding ``deploy/dagster.yaml`` (PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import settings

EMBEDDED_YAML = Path(__file__).with_name("dagster_embedded.yaml")


def dagster_home() -> Path:
    """``DAGSTER_HOME``, else the data folder's ``dagster`` folder, created with the shipped config."""
    configured = os.environ.get("DAGSTER_HOME")
    home = Path(configured) if configured else (settings.data_dir() / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not configured and not (home / "dagster.yaml").exists():
        shutil.copyfile(EMBEDDED_YAML, home / "dagster.yaml")
    return home


def use_instance_home() -> Path:
    """Point this process (and what it starts) at the instance folder; returns it."""
    home = dagster_home()
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def get_instance():
    """The instance; its first creation (Dagster creates its SQLite tables then) is serialized
    between processes, so two runs started at once on a fresh folder do not race."""
    import fcntl

    import dagster as dg

    home = use_instance_home()
    with open(home / ".instance.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            instance = dg.DagsterInstance.get()
            instance.get_runs(limit=1)  # make sure the storage exists before another process looks
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return instance
