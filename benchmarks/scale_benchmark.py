"""A whole partition-day at 10k, 100k and 1M calls on PostgreSQL, exactly as a user runs it.

    uv run python benchmarks/scale_benchmark.py --calls 10000 100000 1000000 [--sdk] [--reseed]

``--calls 0`` runs a day with no rows at all: the fixed cost of a run. For each size: a database
``bench_scale_<calls>`` seeded once with
``conversions-pipeline seed --days 1 --per-day <calls>`` (kept between runs; --reseed makes it
again); the pipeline's own tables emptied (so every run sends the whole day); the Graph API
emulator started as its own process (``conversions-pipeline emulator``); then
``conversions-pipeline run --date <day>`` as a separate process, timed from launch to exit
(imports, instance, schema checks included). Peak RSS is the kernel's maximum resident set of
that process (``wait4``); per step, the time from Dagster's step stats and the largest RSS sampled
(every 50 ms) while the step ran. With --sdk, `sdk_reference.py` then sends the same day to a
fresh emulator process, for the side-by-side figure.

The digest line is a hash of the day's server_events (every column sent, status, reason), ledger
outcomes (status, reason) and quality-check results (every expectation's verdict, observed value,
unexpected count and examples): equal digests before and after a change mean the same events,
outcomes and checks.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
DAY = datetime.now(timezone.utc).date() - timedelta(days=1)
SERVER = "postgresql+psycopg2://postgres@127.0.0.1:5432"
CLI = [str(Path(sys.executable).parent / "conversions-pipeline")]

GROUPS = (("checks", "_checks"), ("checks", "_structure"), ("checks", "_coverage"), ("checks", "_delivery"),
          ("extract", "extract"), ("events", "events_"), ("upload", "upload_"), ("facebook reads", "facebook_"),
          ("marts", "marts"), ("report", "report"))


def group_of(step: str) -> str:
    for name, marker in GROUPS:
        if marker in step:
            return name
    return step


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sent_day(calls: int):
    """The warehouse this benchmark left for ``calls`` and the latest day it sent (for the
    benchmarks of one step that run on it: marts, the upload's read)."""
    from conversions_pipeline.warehouse.engine import create_warehouse_engine
    from conversions_pipeline.warehouse.schema import server_events

    engine = create_warehouse_engine(f"{SERVER}/bench_scale_{calls}")
    with engine.connect() as conn:
        day = conn.execute(sa.select(sa.func.max(server_events.c.partition_date))).scalar_one()
    return engine, day


def ensure_database(name: str, calls: int, reseed: bool, env: dict) -> None:
    admin = sa.create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        if exists and not reseed:
            return
        if exists:
            conn.execute(sa.text(f'DROP DATABASE "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    subprocess.run([*CLI, "init-db"], env=env, check=True)
    if not calls:  # an empty day: what a run costs whatever the day holds
        return
    started = time.perf_counter()
    subprocess.run([*CLI, "seed", "--days", "1", "--per-day", str(calls), "--end-date", DAY.isoformat()],
                   env=env, check=True)
    print(f"  seeded {calls:,} calls in {time.perf_counter() - started:.1f}s", flush=True)


def reset_pipeline_tables(url: str) -> None:
    """Bring the tables to this release's schema (as `init-db` does) and empty what the pipeline
    writes: every run sends the whole day, as a first run does."""
    from conversions_pipeline.warehouse.engine import create_schema, create_warehouse_engine
    from conversions_pipeline.warehouse.schema import PIPELINE_TABLES

    warehouse = create_warehouse_engine(url)
    create_schema(warehouse)
    warehouse.dispose()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        present = set(sa.inspect(conn).get_table_names())
        names = ", ".join(f'"{t.name}"' for t in PIPELINE_TABLES if t.name in present)
        conn.execute(sa.text(f"TRUNCATE {names}"))
    engine.dispose()


def digest(url: str, day: date) -> str:
    engine = sa.create_engine(url)
    sent = ("pixel_id, event_id, event_name, event_time, action_source, user_data, custom_data, options, "
            "event_source_url, source_table, source_id, merged_session_id, session_tie, match_keys, status, "
            "reason, note, payload_hash")
    with engine.connect() as conn:
        events = conn.execute(sa.text(
            f"SELECT md5(string_agg(md5(concat_ws('|', {sent})), '' ORDER BY pixel_id, event_id)), count(*) "
            "FROM server_events WHERE partition_date = :d"), {"d": day}).one()
        ledger = conn.execute(sa.text(
            "SELECT md5(string_agg(md5(concat_ws('|', pixel_id, event_id, status, reason, destination)), '' "
            "ORDER BY pixel_id, event_id)), count(*) FROM capi_events WHERE partition_date = :d"), {"d": day}).one()
        checks = conn.execute(sa.text(
            "SELECT md5(string_agg(md5(concat_ws('|', asset, check_name, expectation, severity, success, "
            "observed_value, unexpected_count, unexpected_percent, examples)), '' "
            "ORDER BY asset, check_name, expectation)), count(*) FROM dq_results WHERE partition_date = :d"),
            {"d": day}).one()
    engine.dispose()
    return " / ".join(f"{name} {count:,} {(md5 or '-')[:12]}"
                      for name, (md5, count) in (("events", events), ("ledger", ledger), ("checks", checks)))


def start_emulator(env: dict, profile: str | None = None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [*CLI, "emulator", "--port", str(port)]
    if profile:
        command = ["py-spy", "record", "--format", "raw", "--rate", "50", "--nonblocking", "-o", profile, "--",
                   *command]
    proc = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the emulator did not start")


def stop_emulator(proc: subprocess.Popen) -> None:
    """Ctrl-C (py-spy then writes its profile); terminated if SIGINT is ignored, as it is in a
    process started in the background by a non-interactive shell."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait()


def machine_busy() -> float:
    """CPU seconds the whole machine has spent busy (every process: the run, PostgreSQL, the emulator)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def measured(command: list[str], env: dict) -> tuple[float, int, list[tuple[float, int, float]], str]:
    """Run ``command``; its wall time, peak RSS (bytes, from the kernel), samples (time, RSS, the
    machine's busy CPU seconds so far) and output."""
    out = tempfile.TemporaryFile()
    started = time.perf_counter()
    proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    samples: list[tuple[float, int, float]] = []
    done = threading.Event()

    def sample() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while not done.is_set():
            try:
                line = next(ln for ln in status.read_text().splitlines() if ln.startswith("VmRSS:"))
            except (OSError, StopIteration):
                return
            samples.append((time.time(), int(line.split()[1]) * 1024, machine_busy()))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    busy_before = machine_busy()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    took = time.perf_counter() - started
    busy = machine_busy() - busy_before
    print(f"  CPU: the process {usage.ru_utime + usage.ru_stime:.1f}s; all processes {busy:.1f}s "
          f"({busy / took / os.cpu_count():.0%} of {os.cpu_count()} cores over {took:.1f}s)", flush=True)
    done.set()
    sampler.join()
    out.seek(0)
    text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{command[1:3]} exited {proc.returncode}:\n{text[-3000:]}")
    return took, usage.ru_maxrss * 1024, samples, text


def steps(home: str, samples: list[tuple[float, int, float]]) -> list[tuple[str, float, int, float, int, int]]:
    """Per step: seconds, peak RSS sampled while it ran, how busy the machine's cores were
    meanwhile (1.0: every core busy; the rest is a core left idle while the step ran), and the RSS
    sampled first and last in the step (what the process holds going in and coming out)."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = home
    with dg.DagsterInstance.get() as instance:
        run = instance.get_runs(limit=1)[0]
        stats = sorted(instance.get_run_step_stats(run.run_id), key=lambda s: s.start_time or 0)
    out = []
    for s in stats:
        within = [(t, rss, busy) for t, rss, busy in samples if s.start_time <= t <= (s.end_time or t)]
        peak = max((rss for _, rss, _ in within), default=0)
        seconds = (s.end_time or 0) - (s.start_time or 0)
        load = ((within[-1][2] - within[0][2]) / (within[-1][0] - within[0][0]) / os.cpu_count()
                if len(within) > 1 and within[-1][0] > within[0][0] else float("nan"))
        out.append((s.step_key, seconds, peak, load, within[0][1] if within else 0, within[-1][1] if within else 0))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--sdk", action="store_true", help="also run sdk_reference.py on the same day")
    parser.add_argument("--reseed", action="store_true")
    parser.add_argument("--steps", action="store_true", help="print every step, not only the groups")
    parser.add_argument("--profile", metavar="DIR", help="record the run with py-spy (collapsed stacks) into DIR")
    args = parser.parse_args()
    home = tempfile.mkdtemp(prefix="scale_benchmark_dagster_")
    results = []
    for calls in args.calls:
        name = f"bench_scale_{calls}"
        url = f"{SERVER}/{name}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FB_", "CAPI_", "DAGSTER_"))}
        env.update(WAREHOUSE_URL=url, DAGSTER_HOME=home, CONVERSIONS_DATA_DIR=home, PYTHONUNBUFFERED="1")
        print(f"{calls:,} calls ({name}, day {DAY})", flush=True)
        ensure_database(name, calls, args.reseed, env)
        reset_pipeline_tables(url)
        emulator, base = start_emulator(env,
                                        str(Path(args.profile) / f"emulator_{calls}.txt") if args.profile else None)
        try:
            env.update(CAPI_DESTINATION="emulator", FB_GRAPH_BASE_URL=base)
            command = [*CLI, "run", "--date", DAY.isoformat()]
            if args.profile:
                Path(args.profile).mkdir(parents=True, exist_ok=True)
                command = ["py-spy", "record", "--format", "raw", "--rate", "50", "--nonblocking",
                           *([] if os.environ.get("PROFILE_CPU") else ["--idle"]),
                           "-o", str(Path(args.profile) / f"run_{calls}.txt"), "--", *command]
            took, peak, samples, text = measured(command, env)
        finally:
            stop_emulator(emulator)
        line = next((ln for ln in text.splitlines() if "sent " in ln), "").strip()
        per_step = steps(home, samples)
        grouped: dict[str, list] = {}
        for key, seconds, rss, load, _, _ in per_step:
            g = grouped.setdefault(group_of(key), [0.0, 0, 0.0])
            g[0] += seconds
            g[1] = max(g[1], rss)
            g[2] += seconds * (load if load == load else 0.0)
        result = {"calls": calls, "seconds": round(took, 1), "peak_rss_mib": round(peak / 2**20),
                  "digest": digest(url, DAY), "upload": line,
                  "steps": {g: [round(s, 1), round(r / 2**20), round(b / s, 2) if s else None]
                            for g, (s, r, b) in grouped.items()},
                  "outside_steps_s": round(took - sum(step[1] for step in per_step), 1)}
        print(f"  pipeline: {took:.1f}s, peak RSS {peak / 2**20:,.0f} MiB; {line}", flush=True)
        print(f"  digest: {result['digest']}", flush=True)
        print(f"    {'outside steps':<16} {result['outside_steps_s']:7.1f}s  (imports, instance, checks of "
              "settings and tables, step launch)", flush=True)
        for g, (s, r, b) in grouped.items():
            print(f"    {g:<16} {s:7.1f}s  peak {r / 2**20:6,.0f} MiB  cores busy {b / s if s else 0:4.0%}",
                  flush=True)
        if args.steps:
            for key, seconds, rss, load, first, last in per_step:
                print(f"      {key:<48} {seconds:6.1f}s {rss / 2**20:6,.0f} MiB {load:5.0%}  "
                      f"in {first / 2**20:6,.0f} out {last / 2**20:6,.0f} MiB", flush=True)
        if args.sdk:
            emulator, base = start_emulator(env)
            try:
                sdk_took, sdk_peak, _, sdk_text = measured(
                    [sys.executable, str(ROOT / "benchmarks" / "sdk_reference.py"), "--url", url,
                     "--date", DAY.isoformat(), "--graph", base], env)
            finally:
                stop_emulator(emulator)
            result["sdk"] = {"seconds": round(sdk_took, 1), "peak_rss_mib": round(sdk_peak / 2**20),
                             "output": sdk_text.strip().splitlines()[-1]}
            print(f"  SDK script: {sdk_took:.1f}s, peak RSS {sdk_peak / 2**20:,.0f} MiB; "
                  f"{result['sdk']['output']}; project {sdk_took / took:.2f}x faster", flush=True)
        results.append(result)
    print(json.dumps(results, indent=1))
    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
