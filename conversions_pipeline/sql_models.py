"""A small runner for the SQL models in ``dbt_like_sql/models``, dbt-style, and their Dagster assets.

A model is one ``SELECT`` in ``<name>.sql``. It names upstream models with ``{{ ref('name') }}`` and
warehouse tables with ``{{ source('name') }}``; its first lines may set ``-- config:
materialized=view`` (default: table). A table model returns one partition-day (it filters on the
bind parameter ``:partition_date`` and returns a ``partition_date`` column): running it replaces
that day's rows in one transaction. A view model is replaced as a whole. Templates are rendered
with Jinja; besides ``ref`` and ``source`` they get ``dialect`` and two helpers rendered from
:mod:`conversions_pipeline.capi.match_model` (``match_probability(column)`` and
``action_type(column)``), so the SQL and the emulator share one match model. Values are never
formatted into SQL: the day is a bind parameter.
"""

from __future__ import annotations

import graphlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import jinja2
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from .capi.match_model import STANDARD_ACTION_TYPES, sql_match_probability
from .errors import PipelineError
from .ops.lanes import lanes_for, side_by_side
from .warehouse.engine import qualified_name
from .warehouse.io import read_frame
from .warehouse.schema import metadata

MODELS_DIR = Path(__file__).resolve().parent.parent / "dbt_like_sql" / "models"
_CONFIG = re.compile(r"^--\s*config:\s*(.+)$", re.MULTILINE)


@dataclass
class Model:
    name: str
    path: Path
    template: str
    materialized: str = "table"
    refs: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    description: str = ""


def _sql_action_type(column: str) -> str:
    cases = " ".join(f"WHEN {column} = '{name}' THEN '{kind}'" for name, kind in sorted(STANDARD_ACTION_TYPES.items()))
    return f"(CASE {cases} ELSE 'offsite_conversion.fb_pixel_custom' END)"


def load_models(folder: Path = MODELS_DIR) -> dict[str, Model]:
    """Every model of the folder, in dependency order (upstream first)."""
    models: dict[str, Model] = {}
    for path in sorted(folder.glob("*.sql")):
        text = path.read_text()
        model = Model(path.stem, path, text)
        for match in _CONFIG.finditer(text):
            for item in match.group(1).split(","):
                key, _, value = item.partition("=")
                if key.strip() == "materialized":
                    model.materialized = value.strip()
        if model.materialized not in ("table", "view"):
            raise PipelineError(f"model {path.name}: materialized must be table or view")
        comments = [line[2:].strip() for line in text.splitlines() if line.startswith("--") and "config:" not in line]
        model.description = " ".join(comments)
        _render(model, None, record=True)
        models[model.name] = model
    unknown = {r for m in models.values() for r in m.refs} - set(models)
    if unknown:
        raise PipelineError(f"a model refers to unknown model(s) {', '.join(sorted(unknown))}")
    order = graphlib.TopologicalSorter({m.name: set(m.refs) for m in models.values()}).static_order()
    return {name: models[name] for name in order}


def _render(model: Model, engine: Engine | None, record: bool = False) -> str:
    def ref(name: str) -> str:
        if record:
            model.refs.append(name)
        return _table_name(engine, name)

    def source(name: str) -> str:
        if record:
            model.sources.append(name)
        if name not in metadata.tables:
            raise PipelineError(f"model {model.path.name}: source('{name}') is not a table of the warehouse contract")
        return _table_name(engine, name)

    env = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False)
    return env.from_string(model.template).render(
        ref=ref, source=source, dialect=engine.dialect.name if engine is not None else "",
        match_probability=sql_match_probability, action_type=_sql_action_type)


def _table_name(engine: Engine | None, name: str) -> str:
    if engine is None:
        return name
    return qualified_name(engine, sa.table(name))


def render(model: Model, engine: Engine) -> str:
    """The model's SQL for this warehouse's dialect (bind parameter ``:partition_date`` left in)."""
    return _render(model, engine)


def run_model(engine: Engine, model: Model, day: date) -> int:
    """Materialize the model for ``day``: a table model replaces that day's rows (creating the table,
    or re-creating it when the model's columns changed); a view model is re-created. Returns the
    day's row count."""
    sql = render(model, engine)
    name = _table_name(engine, model.name)
    params = {"partition_date": day}
    with engine.begin() as conn:
        if model.materialized == "view":
            conn.execute(sa.text(f"DROP VIEW IF EXISTS {name}"))
            conn.execute(sa.text(f"CREATE VIEW {name} AS {sql}"))
            return int(conn.execute(sa.text(f"SELECT COUNT(*) FROM {name}")).scalar_one())
        columns = list(conn.execute(sa.text(f"SELECT * FROM ({sql}) AS model_rows WHERE 1 = 0"), params).keys())
        if "partition_date" not in columns:
            raise PipelineError(f"model {model.path.name} must return a partition_date column (it is a table model)")
        inspector = sa.inspect(conn)
        schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
        if inspector.has_table(model.name, schema=schema):
            existing = [c["name"] for c in inspector.get_columns(model.name, schema=schema)]
            if existing != columns:  # the model changed: its table is derived data, rebuilt from here on
                conn.execute(sa.text(f"DROP TABLE {name}"))
        if not sa.inspect(conn).has_table(model.name, schema=schema):
            conn.execute(sa.text(f"CREATE TABLE {name} AS SELECT * FROM ({sql}) AS model_rows WHERE 1 = 0"), params)
        if not schema or engine.dialect.name == "postgresql":
            # a model keeps every day: replacing one must not scan all of them
            index = engine.dialect.identifier_preparer.quote(f"ix_{model.name}_day")
            conn.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {index} ON {name} (partition_date)"))
        conn.execute(sa.text(f"DELETE FROM {name} WHERE partition_date = :partition_date"), params)
        rows = conn.execute(sa.text(f"INSERT INTO {name} SELECT * FROM ({sql}) AS model_rows"), params).rowcount
        if rows is None or rows < 0:  # a driver that does not count inserted rows
            rows = conn.execute(sa.text(f"SELECT COUNT(*) FROM {name} WHERE partition_date = :partition_date"),
                                params).scalar_one()
        rows = int(rows)
        if rows >= ANALYZE_FROM_ROWS and engine.dialect.name in ("postgresql", "sqlite"):
            # the models that read this one are planned on its statistics, not on a guess: without
            # them SQLite took the day index for a join's inner loop (every lead_outcomes row of the
            # day read once per source row: reconciliation_daily ran for over ten minutes on a
            # 100,000-call day, 0.5 s analyzed). SQLite reads at most ANALYZE_SAMPLE rows per index: a
            # day must fit in it, or the statistics understate it (10,000 rows read of a 165,000-row
            # day said "10,001 rows per day", and the loop came back).
            if engine.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA analysis_limit = {ANALYZE_SAMPLE}")
            conn.execute(sa.text(f"ANALYZE {name}"))
        return rows


ANALYZE_FROM_ROWS = 10_000
ANALYZE_SAMPLE = 2_000_000


def run_models(engine: Engine, models: dict[str, Model], day: date, threads: int | None = None,
               run: Callable[[Engine, Model, date], int] = run_model) -> Iterator[tuple[Model, int]]:
    """Run ``models`` for ``day``, each once the models it refers to (among ``models``) are done,
    up to ``threads`` at a time (by default :func:`..ops.lanes.lanes_for`: two on PostgreSQL, where
    one statement keeps one server core busy; one on SQLite, which has one writer); yields
    ``(model, rows)`` as each finishes. After a failure no model starts; the failure is raised once
    the running ones are done."""
    work = {name: (lambda model=model: run(engine, model, day)) for name, model in models.items()}
    refs = {name: model.refs for name, model in models.items()}
    lanes = lanes_for(engine) if threads is None else threads
    for name, rows in side_by_side(work, lanes, "sql-model", after=refs):
        yield models[name], rows


def read_model(engine: Engine, name: str, first: date, last: date | None = None,
               limit: int | None = None) -> pd.DataFrame:
    """A table model's rows for a day, or for the days ``first`` to ``last`` (at most ``limit``)."""
    table = sa.table(name, sa.column("partition_date"))
    query = sa.select(sa.text("*")).select_from(table).where(table.c.partition_date.between(first, last or first))
    return read_frame(engine, query.limit(limit) if limit else query)
