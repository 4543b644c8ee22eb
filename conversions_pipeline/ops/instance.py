"""One Dagster instance for the CLI and the UI.

Unless ``DAGSTER_HOME`` is set, the instance lives in ``<data folder>/dagster`` (``data/dagster`` by
default) with the shipped ``dagster.yaml`` (run queue and pool limits); ``conversions-pipeline ui``
starts ``dagster dev`` on that same folder, and the demo writes it into ``./.env`` (which ``dagster
dev`` loads), so what the demo and ``run`` did is there when the UI opens. Production points
``DAGSTER_HOME`` at a folder holding ``deploy/dagster.yaml`` (PostgreSQL).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from .. import settings

EMBEDDED_YAML = Path(__file__).with_name("dagster_embedded.yaml")


DOTENV = Path(".env")


def _dotenv_home() -> str | None:
    """DAGSTER_HOME from ./.env, which `dagster dev` loads too."""
    if not DOTENV.exists():
        return None
    for line in DOTENV.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "DAGSTER_HOME" and value.strip():
            return value.strip().strip('"').strip("'")
    return None


def remember_for_dagster_dev(home: Path) -> bool:
    """Write ``DAGSTER_HOME=<home>`` into ./.env (when it names none), so a plain `dagster dev` in
    this folder opens the same instance as the CLI. Returns whether it wrote."""
    if (os.environ.get("DAGSTER_HOME") and os.environ["DAGSTER_HOME"] != _SET_BY_US.get("home")) or _dotenv_home():
        return False
    existing = DOTENV.read_text() if DOTENV.exists() else ""
    DOTENV.write_text(existing + ("" if not existing or existing.endswith("\n") else "\n")
                      + f"DAGSTER_HOME={home}\n")
    return True


def dagster_home() -> Path:
    """``DAGSTER_HOME`` (or the one ./.env names), else the data folder's ``dagster`` folder,
    created with the shipped config."""
    configured = os.environ.get("DAGSTER_HOME") or _dotenv_home()
    home = Path(configured) if configured else (settings.data_dir() / "dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    if not configured and not (home / "dagster.yaml").exists():
        shutil.copyfile(EMBEDDED_YAML, home / "dagster.yaml")
    return home


_SET_BY_US: dict = {}


def use_instance_home() -> Path:
    """Point this process (and what it starts) at the instance folder; returns it."""
    home = dagster_home()
    if os.environ.get("DAGSTER_HOME") != str(home):
        os.environ["DAGSTER_HOME"] = str(home)
        _SET_BY_US["home"] = str(home)
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
