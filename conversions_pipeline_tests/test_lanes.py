"""Pieces of one step side by side (ops/lanes.py), and the extract step that uses them."""

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from conversions_pipeline.ops.lanes import lanes_for, side_by_side


def test_pieces_run_side_by_side_up_to_the_lanes():
    both_started = threading.Barrier(2, timeout=5)  # passes only if two pieces run at once
    running, peak, lock = [0], [0], threading.Lock()

    def piece(name):
        def run():
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            if name in ("a", "b"):
                both_started.wait()
            with lock:
                running[0] -= 1
            return name.upper()
        return run

    done = dict(side_by_side({n: piece(n) for n in "abcde"}, lanes=2))
    assert done == {n: n.upper() for n in "abcde"}
    assert peak[0] == 2


def test_one_lane_runs_in_order_in_the_callers_thread():
    seen = []
    work = {n: (lambda n=n: seen.append((n, threading.current_thread().name)) or n) for n in "xyz"}
    assert [name for name, _ in side_by_side(work, lanes=1)] == ["x", "y", "z"]
    assert seen == [(n, threading.current_thread().name) for n in "xyz"]


def test_after_a_failure_nothing_new_starts_and_the_failure_is_raised_once_the_others_end():
    started = []

    def fails():
        started.append("fails")
        raise ValueError("broken source")

    def slow():  # still running when the failure is seen
        started.append("slow")
        threading.Event().wait(0.5)
        return "slow"

    def later():
        started.append("later")
        return "later"

    finished = []
    with pytest.raises(ValueError, match="broken source"):
        for name, _ in side_by_side({"slow": slow, "fails": fails, "later": later}, lanes=2):
            finished.append(name)
    assert started == ["slow", "fails"] or started == ["fails", "slow"]
    assert finished == ["slow"]  # what finished is yielded before the failure is raised


def test_lanes_two_on_postgresql_one_on_sqlite(tmp_path):
    assert lanes_for(sa.create_engine(f"sqlite:///{tmp_path / 'w.db'}")) == 1
    assert lanes_for(sa.create_engine("postgresql+psycopg2://u@127.0.0.1/db")) == 2


def _extract_run(url, selection):
    import dagster as dg

    from conversions_pipeline.extract.assets import build_extract_assets
    from conversions_pipeline.partitions import daily_partitions
    from conversions_pipeline.warehouse.resource import WarehouseResource

    extract = build_extract_assets(daily_partitions(start_date="2026-03-01"))
    return dg.materialize(extract, selection=selection, partition_key="2026-03-14",
                          resources={"warehouse": WarehouseResource(url=url)})


def test_the_extract_step_stages_every_source_and_each_can_be_extracted_alone(warehouse_url):
    from conversions_pipeline.extract.assets import extract_key
    from conversions_pipeline.warehouse.engine import create_schema, create_warehouse_engine
    from conversions_pipeline.warehouse.schema import SOURCE_TABLES, STAGED_TABLES
    from conversions_pipeline.warehouse.seed import seed_days

    engine = create_warehouse_engine(warehouse_url)
    create_schema(engine)
    seed_days(engine, days=1, per_day=200, end_date=date(2026, 3, 14), seed=4)
    day = date(2026, 3, 14)

    def staged() -> dict:
        with engine.connect() as conn:
            return {s: conn.execute(sa.select(sa.func.count()).select_from(t).where(t.c.partition_date == day))
                    .scalar_one() for s, t in STAGED_TABLES.items()}

    alone = _extract_run(warehouse_url, [extract_key("orders")])
    assert alone.success
    assert [m.materialization.asset_key for m in alone.get_asset_materialization_events()] == [extract_key("orders")]
    rows = staged()
    assert rows["orders"] > 0 and all(n == 0 for s, n in rows.items() if s != "orders")

    every = _extract_run(warehouse_url, [extract_key(s) for s in SOURCE_TABLES])
    assert every.success
    materialized = {m.materialization.asset_key: m.materialization.metadata
                    for m in every.get_asset_materialization_events()}
    assert set(materialized) == {extract_key(s) for s in SOURCE_TABLES}
    rows = staged()
    for source, meta in materialized.items():
        assert meta["rows"].value == rows[source.path[-1]] > 0
    engine.dispose()


@pytest.mark.parametrize("lanes", [1, 2])
def test_a_piece_waits_for_the_pieces_it_comes_after(lanes):
    finished = []
    work = {n: (lambda n=n: finished.append(n) or n) for n in ("report", "marts", "events", "extract")}
    after = {"report": ["marts"], "marts": ["events"], "events": ["extract", "not a piece"]}
    assert [name for name, _ in side_by_side(work, lanes, after=after)] == ["extract", "events", "marts", "report"]
    assert finished == ["extract", "events", "marts", "report"]
