"""The lint settings in pyproject.toml hold for the whole repository: ruff (pyflakes, pycodestyle,
import order) over the Python, sqlfluff over the SQL models in dbt_like_sql/."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is a dev dependency: `uv sync` installs it"
    return found


@pytest.mark.parametrize("command", [
    ["ruff", "check", "--no-cache", "--output-format", "concise", "."],
    ["sqlfluff", "lint", "--disable-progress-bar", "dbt_like_sql/models"],
], ids=["ruff", "sqlfluff"])
def test_the_linters_find_nothing(command):
    done = subprocess.run([_tool(command[0]), *command[1:]], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
