"""Command line: ``conversions-pipeline seed | init-db | run | demo``.

Every failure the user can fix is printed as one line naming the fix, with exit status 2;
a run that fails exits 1.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
from datetime import date, timedelta

from . import settings
from .errors import PipelineError
from .partitions import check_partition, parse_day

DEMO_DAYS = 3
DEMO_PER_DAY = 2_000


def _say(text: str) -> None:
    print(text, flush=True)


def _engine():
    from .warehouse.engine import create_warehouse_engine, safe_url

    url = settings.warehouse_url()
    return create_warehouse_engine(url, settings.warehouse_schema()), safe_url(url)


def cmd_init_db(args: argparse.Namespace) -> int:
    from .warehouse.engine import create_schema

    engine, shown = _engine()
    create_schema(engine)
    _say(f"warehouse tables ready at {shown}")
    return 0


def cmd_seed(args: argparse.Namespace) -> int:
    from .warehouse.seed import seed_days

    if args.days < 1 or args.per_day < 1:
        raise PipelineError("--days and --per-day must be at least 1")
    end = parse_day(args.end_date) if args.end_date else date.today() - timedelta(days=1)
    engine, shown = _engine()
    started = time.perf_counter()

    def progress(day: date, rows: dict[str, int]) -> None:
        _say(f"  seeded {day}: " + ", ".join(f"{k} {v:,}" for k, v in rows.items()))

    report = seed_days(engine, args.days, args.per_day, end, seed=args.seed, progress=progress)
    total = sum(report.rows.values())
    _say(f"seeded {len(report.days)} day(s) into {shown}: {total:,} rows in {time.perf_counter() - started:.1f}s")
    return 0


def _days(first: date, last: date) -> list[date]:
    if last < first:
        raise PipelineError(f"--to {last} is before --date {first}; give the range oldest first")
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _instance():
    """The persistent instance the UI reads too (DAGSTER_HOME, else <data folder>/dagster)."""
    from .ops.instance import get_instance

    return get_instance()


_INTERRUPTS = ("KeyboardInterrupt", "DagsterExecutionInterruptedError")


def _step_error(result):
    for event in result.all_events:
        if event.is_step_failure:
            return event.step_key, event.step_failure_data.error
    return None, None


def _interrupted(result) -> bool:
    _, error = _step_error(result)
    while error is not None:
        if error.cls_name in _INTERRUPTS:
            return True
        error = error.cause
    return False


def _failed_checks(result) -> list[str]:
    """Failed quality checks of a run, one line each: which check, and why."""
    lines = []
    for event in result.all_events:
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            evaluation = event.event_specific_data
            if not evaluation.passed:
                severity = getattr(evaluation.severity, "value", evaluation.severity)
                lines.append(f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name} failed "
                             f"({severity}): {evaluation.description or ''}"[:400])
    return lines


def _failure_message(result) -> str:
    blocking = [line for line in _failed_checks(result) if "(ERROR)" in line]
    if blocking:
        return blocking[0] + "; the day's later steps did not run"
    step, error = _step_error(result)
    if error is None:
        return "the run failed"
    while error.cause is not None and error.cls_name in ("DagsterExecutionStepExecutionError",):
        error = error.cause
    lines = error.message.strip().splitlines()
    line = lines[0] if lines else error.cls_name
    head, _, rest = line.partition(": ")
    return f"{step}: {(rest or line) if head.endswith(error.cls_name) else line}"


def _upload_line(meta) -> str:
    value = lambda k: meta[k].value if k in meta else 0  # noqa: E731
    skipped = ", ".join(f"{r} {n:,}" for r, n in sorted(value("skipped_by_reason").items(), key=lambda x: -x[1]))
    line = (f"sent {value('sent'):,}, accepted {value('accepted'):,}, rejected {value('rejected'):,}, "
            f"skipped {value('skipped'):,}" + (f" ({skipped})" if skipped else ""))
    rejected = value("rejected_by_reason")
    if rejected:
        line += "; rejected by reason: " + ", ".join(f"{r} {n:,}" for r, n in rejected.items())
    if value("retracted"):
        line += f"; retracted {value('retracted'):,} (accepted earlier, now ineligible or deleted)"
    if value("too_old"):
        line += (f"\n    warning: {value('too_old'):,} event(s) are older than Meta's 7-day window and were not sent "
                 "(a backfill of older days records them but cannot deliver them)")
    return line


def run_days(days: list[date], verbose: bool = False) -> int:
    """Materialize the daily job for each day, in order, in-process; print one line per day."""
    from .definitions import DAILY_JOB, build_definitions
    from .ops.memory import freeze_long_lived, steady_heap
    from .warehouse.engine import verify_tables
    from .warehouse.schema import ALL_SOURCE_TABLES, PIPELINE_TABLES

    steady_heap()  # column-sized blocks go back to the system when a step frees them
    engine, shown = _engine()
    destination = settings.validate()  # every setting, before any work
    verify_tables(engine, [*ALL_SOURCE_TABLES, *PIPELINE_TABLES])  # one clear line before any run starts
    _say(f"destination: {destination.describe()}; warehouse: {shown}")
    defs = build_definitions()
    job = defs.resolve_job_def(DAILY_JOB)
    freeze_long_lived()  # the garbage collector no longer walks the modules and definitions
    partitions = job.partitions_def
    keys = [check_partition(partitions, d) for d in days]
    run_config = {} if verbose else {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}, "progress": {}}}
    instance = _instance()
    failed = 0
    for n, key in enumerate(keys, 1):
        _say(f"[{n}/{len(keys)}] {key} ...")
        started = time.perf_counter()
        result = job.execute_in_process(partition_key=key, instance=instance, raise_on_error=False,
                                        run_config=run_config)
        took = time.perf_counter() - started
        if not result.success and _interrupted(result):
            raise KeyboardInterrupt(f"{key} interrupted")
        if not result.success:
            failed += 1
            _say(f"[{n}/{len(keys)}] {key} FAILED after {took:.1f}s: {_failure_message(result)}")
            continue
        meta = {m.materialization.asset_key.to_user_string(): m.materialization.metadata
                for m in result.get_asset_materialization_events()}
        rows = [f"{k.split('/')[-1]} {v['rows'].value:,}" for k, v in meta.items()
                if "rows" in v and k.startswith("extract/")]
        _say(f"[{n}/{len(keys)}] {key} done in {took:.1f}s: extracted " + ", ".join(sorted(rows)))
        if verbose:
            for event in result.all_events:
                if event.event_type_value == "STEP_SUCCESS":
                    _say(f"    {event.step_key:<44} {event.event_specific_data.duration_ms / 1000:6.1f}s")
        for line in _failed_checks(result):
            _say("    " + line)
        if "upload/capi_events" in meta:
            _say("    " + _upload_line(meta["upload/capi_events"]))
    return 1 if failed else 0


def cmd_run(args: argparse.Namespace) -> int:
    first = parse_day(args.date)
    last = parse_day(args.to) if args.to else first
    return run_days(_days(first, last), verbose=args.verbose)


def cmd_demo(args: argparse.Namespace) -> int:
    """Seed the embedded warehouse with the last few days and run the daily job over them."""
    # synthetic leads never go to a real pixel: the demo always sends to the emulator
    previous = os.environ.get("CAPI_DESTINATION")
    os.environ["CAPI_DESTINATION"] = "emulator"
    try:
        return _demo(args)
    finally:
        if previous is None:
            os.environ.pop("CAPI_DESTINATION", None)
        else:
            os.environ["CAPI_DESTINATION"] = previous


def _demo(args: argparse.Namespace) -> int:
    from .partitions import daily_partitions

    last = date.fromisoformat(daily_partitions().get_last_partition_key())
    days = _days(last - timedelta(days=args.days - 1), last)
    _say(f"demo: seeding {args.days} day(s) of {args.per_day:,} calls/day ending {last}")
    seed_args = argparse.Namespace(days=args.days, per_day=args.per_day, end_date=last.isoformat(), seed=args.seed)
    cmd_seed(seed_args)
    _say(f"demo: running the daily job for {days[0]} .. {days[-1]}")
    status = run_days(days, verbose=args.verbose)
    write_report(days[0], days[-1], None, per_day=True)
    from .ops.instance import dagster_home, remember_for_dagster_dev

    home = dagster_home()
    if remember_for_dagster_dev(home):
        _say(f"wrote DAGSTER_HOME={home} into ./.env, so `dagster dev` here shows these runs")
    _say("see the runs, lineage and checks: uv run conversions-pipeline ui (or uv run dagster dev)")
    return status


def write_report(first: date, last: date, out: str | None, per_day: bool = False) -> str:
    """Print the waterfall (per day, or for the range) and write the standalone HTML report."""
    from pathlib import Path

    from .reports import report
    from .reports.assets import load

    engine, _ = _engine()
    days = _days(first, last) if per_day else [None]
    for day in days:
        data = load(engine, day or first, day or last)
        _say(f"\nCallRail vs Facebook, {day or f'{first} .. {last}'}:")
        _say(report.waterfall_text(data.waterfall))
        for note in data.notes:
            _say(f"  note: {note}")
    data = load(engine, first, last)
    path = Path(out) if out else settings.data_dir() / f"report_{first}_{last}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(report.html_report(first, last, data.waterfall, data.daily, data.coverage,
                                       report.top_reasons(data.lost), data.notes))
    _say(f"\nreport: {path.resolve()}")
    return str(path)


def cmd_report(args: argparse.Namespace) -> int:
    from .warehouse.engine import verify_tables
    from .warehouse.schema import facebook_reads

    first = parse_day(getattr(args, "from"))
    last = parse_day(args.to) if args.to else first
    _days(first, last)
    engine, _ = _engine()
    verify_tables(engine, [facebook_reads])
    write_report(first, last, args.out)
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """``dagster dev`` on the same instance folder as the CLI, so the demo's runs are there."""
    import subprocess

    from .ops.instance import use_instance_home

    home = use_instance_home()
    settings.validate()
    _say(f"Dagster UI on http://127.0.0.1:{args.port} with the instance in {home}; Ctrl-C to stop")
    command = [sys.executable, "-m", "dagster", "dev", "-m", "conversions_pipeline.definitions", "-p", str(args.port)]
    try:
        return subprocess.call(command)
    except KeyboardInterrupt:
        return 0


def cmd_emulator(args: argparse.Namespace) -> int:
    """Serve the Graph API emulator until interrupted."""
    from .capi.emulator import EmulatorConfig, EmulatorServer

    config = EmulatorConfig(transient_rate=args.transient_rate, throttle_rate=args.throttle_rate,
                            drop_rate=args.drop_rate, latency_ms=args.latency_ms, seed=args.seed)
    server = EmulatorServer(config, port=args.port, host=args.host).start()
    _say(f"Graph API emulator on {server.base_url} (POST /{{version}}/{{pixel}}/events, "
         f"GET /{{version}}/{{pixel}}/insights); Ctrl-C to stop")
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conversions-pipeline", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("init-db", help="create the warehouse tables if missing")
    p.set_defaults(func=cmd_init_db)

    p = sub.add_parser("seed", help="fill the source tables with deterministic synthetic days")
    p.add_argument("--days", type=int, default=7)
    p.add_argument("--per-day", type=int, default=10_000, help="calls per day (other tables scale from it)")
    p.add_argument("--end-date", help="last day to seed, YYYY-MM-DD (default yesterday)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_seed)

    p = sub.add_parser("run", help="materialize the daily job for one day or a range, in-process")
    p.add_argument("--date", required=True, help="first partition-day, YYYY-MM-DD")
    p.add_argument("--to", help="last partition-day (inclusive)")
    p.add_argument("--verbose", action="store_true", help="show Dagster's own log lines")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("report", help="the CallRail-vs-Facebook waterfall in the terminal and as one HTML file")
    p.add_argument("--from", required=True, help="first partition-day, YYYY-MM-DD")
    p.add_argument("--to", help="last partition-day (inclusive)")
    p.add_argument("--out", help="HTML file to write (default: the data folder)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("ui", help="the Dagster UI (dagster dev) on the CLI's instance")
    p.add_argument("--port", type=int, default=3000)
    p.set_defaults(func=cmd_ui)

    p = sub.add_parser("emulator", help="serve the local Graph API emulator")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--transient-rate", type=float, default=0.0, help="share of requests failing with code 2")
    p.add_argument("--throttle-rate", type=float, default=0.0, help="share of requests throttled")
    p.add_argument("--drop-rate", type=float, default=0.0, help="share of connections dropped without a reply")
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_emulator)

    p = sub.add_parser("demo", help="seed the embedded warehouse and run the daily job for the last days")
    p.add_argument("--days", type=int, default=DEMO_DAYS)
    p.add_argument("--per-day", type=int, default=DEMO_PER_DAY)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--verbose", action="store_true")
    p.set_defaults(func=cmd_demo)
    return parser


def _interrupt(signum, _frame) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _unraisable(hook):
    """An interrupt raised while Python ran a finalizer is printed and dropped ("Exception ignored
    in ..."): deliver the signal again, so a stop request is never lost."""
    def handle(unraisable) -> None:
        if isinstance(unraisable.exc_value, (KeyboardInterrupt,)) or \
                type(unraisable.exc_value).__name__ in _INTERRUPTS:
            os.kill(os.getpid(), signal.SIGTERM)
            return
        hook(unraisable)
    return handle


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (a scheduler stopping us) stops as cleanly as Ctrl-C: in-flight events stay pending
        signal.signal(signal.SIGTERM, _interrupt)
        sys.unraisablehook = _unraisable(sys.unraisablehook)
    try:
        return args.func(args)
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: what was not confirmed stays pending in the ledger; run the day again to finish it",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
