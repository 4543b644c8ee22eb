"""Shared fixtures: a real SQLite warehouse and a throwaway real PostgreSQL database.

PostgreSQL tests skip with a reason when no server answers on 127.0.0.1:5432, unless
``REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which turns the skip into a failure.
"""

import os
import uuid

import pytest
import sqlalchemy as sa

from conversions_pipeline.warehouse.engine import create_warehouse_engine

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch, tmp_path):
    """Each test starts from the embedded default in its own data folder (its own Dagster
    instance too), whatever the developer's shell exports."""
    monkeypatch.setenv("CONVERSIONS_DATA_DIR", str(tmp_path / "default-data"))
    monkeypatch.chdir(tmp_path)  # nothing a test runs writes into the checkout (./.env, ./data)
    monkeypatch.setenv("DAGSTER_HOME", "unset")  # recorded, so whatever a test sets is undone after it
    monkeypatch.delenv("DAGSTER_HOME")
    for name in ("WAREHOUSE_URL", "WAREHOUSE_SCHEMA", "CAPI_DESTINATION", "FB_PIXEL_ID", "FB_ACCESS_TOKEN",
                 "FB_GRAPH_BASE_URL", "FB_API_VERSION", "FB_TEST_EVENT_CODE", "PARTITIONS_TIMEZONE",
                 "FB_AD_ACCOUNT_ID", "FB_ATTRIBUTION_WINDOWS", "CONVERSIONS_EXECUTOR", "SCHEDULES_ENABLED",
                 "SCHEDULE_HOUR", "SCHEDULE_MINUTE", "LATE_LEAD_DAYS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def pg_database_url():
    """Create a throwaway database for this test session and drop it afterwards."""
    admin = sa.create_engine(PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg2://"),
                             isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
    name = f"cp_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        message = f"PostgreSQL not reachable at {PG_ADMIN_URL} ({str(exc.orig).splitlines()[0]})"
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(message + "; REQUIRE_POSTGRES=1 requires it")
        pytest.skip(message + "; set REQUIRE_POSTGRES=1 to make this a failure")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path):
    return f"sqlite:///{tmp_path / 'warehouse.db'}"


def _reset(engine):
    from conversions_pipeline.warehouse.schema import metadata
    metadata.drop_all(engine)


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request, tmp_path):
    """A fresh, empty warehouse on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
        return
    url = request.getfixturevalue("pg_database_url")
    engine = create_warehouse_engine(url)
    _reset(engine)
    yield url
    _reset(engine)
    engine.dispose()


@pytest.fixture
def engine(warehouse_url):
    eng = create_warehouse_engine(warehouse_url)
    yield eng
    eng.dispose()
