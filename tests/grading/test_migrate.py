import pytest
from sqlalchemy import inspect

from grading.records import migrate
from grading.records.db import get_engine


def test_upgrade_creates_schema_and_is_idempotent(records_url):
    migrate.upgrade(records_url)  # second run is a no-op
    tables = set(inspect(get_engine(records_url)).get_table_names())
    assert {"units", "learners", "credentials", "results", "learning_events", "grading_jobs"} <= tables


def test_sqlite_runs_in_wal_mode(records_url):
    if not records_url.startswith("sqlite"):
        pytest.skip("WAL is SQLite's")
    with get_engine(records_url).connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
