"""The command line: the demo works on the embedded default, and mistakes give one line naming the fix."""

import pytest

from conversions_pipeline.cli import main


@pytest.fixture
def embedded(monkeypatch, tmp_path):
    monkeypatch.delenv("WAREHOUSE_URL", raising=False)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    monkeypatch.setenv("CONVERSIONS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PARTITIONS_START_DATE", "2026-01-01")
    return tmp_path / "data"


def test_demo_seeds_and_runs_the_last_days(embedded, capsys):
    assert main(["demo", "--days", "2", "--per-day", "150"]) == 0
    out = capsys.readouterr().out
    assert (embedded / "warehouse.db").exists()
    assert out.count(" done in ") == 2
    assert "calls 153" in out  # 150 calls plus the 2% duplicate rows exports carry
    sent = [line for line in out.splitlines() if line.strip().startswith("sent ")]
    assert len(sent) == 2
    for line in sent:  # recent days: eligible events reach the embedded emulator and are all accepted
        n = int(line.split()[1].rstrip(",").replace(",", ""))
        assert n > 100 and f"accepted {n:,}" in line and "rejected 0" in line


def test_run_a_range(embedded, capsys):
    assert main(["seed", "--days", "2", "--per-day", "100", "--end-date", "2026-02-02"]) == 0
    assert main(["run", "--date", "2026-02-01", "--to", "2026-02-02"]) == 0
    out = capsys.readouterr().out
    assert "[1/2] 2026-02-01 done" in out and "[2/2] 2026-02-02 done" in out


@pytest.mark.parametrize("argv, env, fragment", [
    (["run", "--date", "2026-02-01"], {"WAREHOUSE_URL": "mysql+nosuch://x/y"}, "dialect 'mysql+nosuch' is unknown"),
    (["run", "--date", "2026-02-01"], {}, "table 'calls' is missing"),
    (["run", "--date", "2025-06-01"], {}, "before the first partition-day 2026-01-01; set PARTITIONS_START_DATE"),
    (["run", "--date", "2099-01-01"], {}, "is not a complete day yet"),
    (["run", "--date", "01/02/2026"], {}, "write it as YYYY-MM-DD"),
    (["run", "--date", "2026-02-02", "--to", "2026-02-01"], {}, "before --date"),
    (["run", "--date", "2026-02-01"], {"PARTITIONS_TIMEZONE": "Mars/Olympus"}, "not an IANA time zone"),
])
def test_mistakes_are_one_line_with_exit_2(embedded, monkeypatch, capsys, argv, env, fragment):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if fragment not in ("table 'calls' is missing",):
        main(["init-db"])
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert err.count("\n") == 1 and err.startswith("error: ")
