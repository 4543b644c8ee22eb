"""Connecting to the warehouse, with errors that say what to fix."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError, SQLAlchemyError

from ..errors import WarehouseError
from .schema import SOURCE_TABLES, metadata

SUPPORTED_HINT = "use postgresql://user@host:5432/db or sqlite:///path/to/warehouse.db"


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


def create_warehouse_engine(url: str, schema: str | None = None) -> Engine:
    """An engine for ``url``; tables resolve into ``schema`` when one is given (PostgreSQL)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise WarehouseError(f"WAREHOUSE_URL is not a valid SQLAlchemy URL; {SUPPORTED_HINT}") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    kwargs: dict = {"hide_parameters": True}  # row values (IPs, hashes) never reach an error or a log
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg2")  # the driver dagster-postgres installs
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": 10}
    try:
        engine = sa.create_engine(parsed, **kwargs)
    except NoSuchModuleError:
        raise WarehouseError(
            f"WAREHOUSE_URL dialect '{parsed.drivername}' is unknown; {SUPPORTED_HINT}"
        ) from None
    except ImportError as exc:
        raise WarehouseError(
            f"WAREHOUSE_URL needs a database driver that is not installed ({exc.name}); "
            f"install it or {SUPPORTED_HINT}"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_pragmas)
    sa.event.listen(engine, "handle_error", _without_row_values)
    if schema:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


class DatabaseMessage(Exception):
    """The database's error, first line only: PostgreSQL's DETAIL ("Failing row contains (...)",
    "Key (ip)=(...)") repeats row values, which must not reach logs or Dagster's event log."""


def scrub_database_error(exc: BaseException) -> str:
    """Cut a driver's error down to its first line, in place, and return that line.

    In place, because the driver's error travels on as the ``__cause__`` of whatever is raised
    instead (SQLAlchemy raises its own error ``from`` it), and Dagster and Python print causes:
    a replacement alone would still carry PostgreSQL's DETAIL and CONTEXT into the log."""
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    first = _QUOTED_VALUE.sub(': "(value hidden)"', first)  # 'invalid input syntax for type integer: "..."'
    exc.args = (first,)
    return first


_QUOTED_VALUE = re.compile(r': ".*"$')
"""A value PostgreSQL quotes at the end of a message's first line (identifiers elsewhere stay)."""


def _without_row_values(context):
    if not isinstance(context.sqlalchemy_exception, sa.exc.DBAPIError):
        return None
    orig = context.original_exception
    first = scrub_database_error(orig)
    return type(context.sqlalchemy_exception)(context.statement, None,
                                              DatabaseMessage(f"{type(orig).__name__}: {first}"),
                                              hide_parameters=True)


SQLITE_BUSY_TIMEOUT_MS = 15_000
"""How long SQLite itself waits for another writer before warehouse.retry takes over (and logs)."""


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """WAL lets the upload's threads write outcomes while pages are read; wait instead of failing."""
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.close()


def check_connection(engine: Engine) -> None:
    """Fail with one line naming the URL when the warehouse cannot be reached."""
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
        raise WarehouseError(
            f"cannot reach the warehouse at {safe_url(str(engine.url))}: {reason}; "
            "check WAREHOUSE_URL and that the server is running"
        ) from None


def create_schema(engine: Engine, tables=None) -> None:
    """Create the warehouse tables (and the PostgreSQL schema) if they are missing, and any index
    or pipeline column of the contract an older warehouse does not have yet."""
    check_connection(engine)
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    with engine.begin() as conn:
        if schema and engine.dialect.name == "postgresql":
            quoted = engine.dialect.identifier_preparer.quote_schema(schema)
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {quoted}"))
        metadata.create_all(conn, tables=tables)
        _add_missing_columns(conn, tables if tables is not None else metadata.sorted_tables, schema)
        for table in tables if tables is not None else metadata.sorted_tables:
            for index in table.indexes:
                index.create(conn, checkfirst=True)
        for name, table in RETIRED_INDEXES:
            if tables is None or any(t.name == table for t in tables):
                _drop_index(conn, name, schema)
        if engine.dialect.name == "postgresql":
            _storage_options(conn, tables, schema)


RETIRED_INDEXES = (("ix_server_events_event", "server_events"), ("ix_capi_events_day", "capi_events"))
"""Indexes an older release made and this one no longer uses (each slows the day's writes)."""

STORAGE_OPTIONS = {"capi_events": "fillfactor=50"}
"""PostgreSQL storage parameters: the ledger's rows are inserted pending and updated once with
Meta's answer; half of each page left free lets that update stay on the page, no index touched
(about twice as fast). Applies to pages written from then on."""


def _storage_options(conn, tables, schema: str | None) -> None:
    for name, options in STORAGE_OPTIONS.items():
        if tables is not None and not any(t.name == name for t in tables):
            continue
        current = conn.execute(sa.text(
            "SELECT c.reloptions FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relname = :t AND n.nspname = coalesce(:s, current_schema())"), {"t": name, "s": schema}).scalar()
        if options not in (current or []):
            conn.execute(sa.text(f"ALTER TABLE {_quoted(conn, name, schema)} SET ({options})"))


def _drop_index(conn, name: str, schema: str | None) -> None:
    conn.execute(sa.text(f"DROP INDEX IF EXISTS {_quoted(conn, name, schema)}"))


def _quoted(conn, name: str, schema: str | None) -> str:
    """``name`` quoted, qualified by ``schema`` on PostgreSQL."""
    prep = conn.dialect.identifier_preparer
    return f"{prep.quote_schema(schema)}.{prep.quote(name)}" if schema and conn.dialect.name == "postgresql" \
        else prep.quote(name)


def _add_missing_columns(conn, tables, schema: str | None) -> None:
    """Additive migration of the pipeline's own tables (stg_*, server_events, ledger): a column a
    newer release added is created, nullable, on an older warehouse. Source tables are the
    user's and are never altered (verify_tables reports what they lack)."""
    inspector = sa.inspect(conn)
    preparer = conn.dialect.identifier_preparer
    for table in tables:
        if table.name in SOURCE_TABLES:
            continue
        present = {c["name"] for c in inspector.get_columns(table.name, schema=schema)}
        for column in table.columns:
            if column.name in present:
                continue
            ddl = (f"ALTER TABLE {qualified_name(conn, table)} "
                   f"ADD COLUMN {preparer.quote(column.name)} {column.type.compile(conn.dialect)}")
            conn.execute(sa.text(ddl))


def verify_tables(engine: Engine, tables) -> None:
    """Fail with one line when a table or a column of the contract is missing."""
    check_connection(engine)
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    try:
        inspector = sa.inspect(engine)
        present = set(inspector.get_table_names(schema=schema))
        for table in tables:
            if table.name not in present:
                where = f" in schema '{schema}'" if schema else ""
                raise WarehouseError(
                    f"table '{table.name}' is missing from the warehouse{where}; "
                    "run `conversions-pipeline init-db` (or `seed`) or fix WAREHOUSE_URL/WAREHOUSE_SCHEMA"
                )
            have = {c["name"] for c in inspector.get_columns(table.name, schema=schema)}
            missing = [c.name for c in table.columns if c.name not in have]
            if missing and table.name not in SOURCE_TABLES and table.name != "order_items":
                raise WarehouseError(
                    f"the pipeline's table '{table.name}' lacks column(s) {', '.join(missing)} a newer release "
                    "added; run `conversions-pipeline init-db` to add them"
                )
            if missing:
                raise WarehouseError(
                    f"table '{table.name}' lacks column(s) {', '.join(missing)}; "
                    "add them to match the warehouse contract (docs/warehouse.md)"
                )
    except SQLAlchemyError as exc:
        raise WarehouseError(f"cannot inspect the warehouse: {type(exc).__name__}; check WAREHOUSE_URL") from None


def reflect_columns(engine: Engine, table: sa.Table) -> dict[str, sa.types.TypeEngine]:
    """The table's columns as the warehouse holds them (name -> reflected type)."""
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    try:
        return {c["name"]: c["type"] for c in sa.inspect(engine).get_columns(table.name, schema=schema)}
    except SQLAlchemyError as exc:
        raise WarehouseError(f"cannot inspect table '{table.name}': {type(exc).__name__}; "
                             "check WAREHOUSE_URL") from None


def time_kind(engine: Engine, column_type: sa.types.TypeEngine | None) -> str:
    """How a timestamp column is stored: ``text`` (SQLite, whose columns hold any text, or a text
    column), ``timestamptz`` or ``timestamp``."""
    if engine.dialect.name == "sqlite" or column_type is None:
        return "text"
    if isinstance(column_type, sa.DateTime):
        return "timestamptz" if getattr(column_type, "timezone", False) else "timestamp"
    if isinstance(column_type, sa.Date):
        return "timestamp"
    return "text"


def qualified_name(engine: Engine, table: sa.Table) -> str:
    """Quoted (schema-qualified) table name for the few raw statements such as COPY."""
    prep = engine.dialect.identifier_preparer
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    name = prep.quote(table.name)
    return f"{prep.quote_schema(schema)}.{name}" if schema else name
