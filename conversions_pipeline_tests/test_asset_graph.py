"""A snapshot of the asset graph: keys, dependencies, partitions, the step each asset runs in,
checks, whether they block and the step each runs in, the job, schedules and sensors. A change to
any of them is a visible diff in ``snapshots/asset_graph.json``; when it is intended, regenerate the file with
``UPDATE_SNAPSHOTS=1 uv run pytest conversions_pipeline_tests/test_asset_graph.py`` and review it."""

import json
import os
from pathlib import Path

import dagster as dg

from conversions_pipeline.definitions import DAILY_JOB, build_definitions

SNAPSHOT = Path(__file__).parent / "snapshots" / "asset_graph.json"


def graph_snapshot(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        entry = {"deps": sorted(k.to_user_string() for k in node.parent_keys), "group": node.group_name,
                 "kinds": sorted(node.kinds)}
        partitions = node.partitions_def
        if partitions is not None:
            entry["partitions"] = (f"{type(partitions).__name__} from {partitions.start.date()} {partitions.timezone}"
                                   if isinstance(partitions, dg.TimeWindowPartitionsDefinition)
                                   else type(partitions).__name__)
        if node.is_materializable:
            op = defs.resolve_assets_def(key).op
            entry["step"] = op.name
            entry["pool"] = op.pool
            entry["backfill"] = str(node.backfill_policy.policy_type.value) if node.backfill_policy else "per partition"
        else:
            entry["external"] = True
        assets[key.to_user_string()] = entry
    check_steps = {ck: d.node_def.name for d in defs.asset_checks or [] for ck in d.check_keys}
    checks = {f"{ck.asset_key.to_user_string()}:{ck.name}": {"blocking": graph.get(ck).blocking,
                                                              "step": check_steps.get(ck)}
              for ck in sorted(graph.asset_check_keys, key=lambda c: (c.asset_key.to_user_string(), c.name))}
    job = defs.resolve_job_def(DAILY_JOB)
    jobs = {DAILY_JOB: {"assets": sorted(k.to_user_string() for k in job.asset_layer.selected_asset_keys),
                        "partitioned": job.partitions_def is not None}}
    schedules = {s.name: {"cron": s.cron_schedule, "timezone": s.execution_timezone, "job": s.job_name}
                 for s in sorted(defs.schedules or [], key=lambda s: s.name)}
    sensors = sorted(s.name for s in defs.sensors or [])
    return {"assets": assets, "checks": checks, "jobs": jobs, "schedules": schedules, "sensors": sensors}


def test_the_asset_graph_matches_its_snapshot(monkeypatch, tmp_path):
    monkeypatch.setenv("WAREHOUSE_URL", f"sqlite:///{tmp_path / 'warehouse.db'}")
    monkeypatch.setenv("PARTITIONS_START_DATE", "2026-01-01")
    monkeypatch.setenv("CAPI_DESTINATION", "emulator")
    for name in ("PARTITIONS_TIMEZONE", "FB_PIXEL_ID", "FB_ACCESS_TOKEN", "FB_GRAPH_BASE_URL", "CONVERSIONS_EXECUTOR"):
        monkeypatch.delenv(name, raising=False)
    current = graph_snapshot(build_definitions())
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    assert current == json.loads(SNAPSHOT.read_text()), \
        "the asset graph changed: if intended, regenerate snapshots/asset_graph.json (see this module's docstring)"
