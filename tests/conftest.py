"""Fixtures shared by every test package."""

from __future__ import annotations

import socket

import pytest

from grading import migrate
from grading.datadir import DataDir


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def datadir(tmp_path) -> DataDir:
    """A fresh, empty platform data dir."""
    return DataDir(tmp_path / "data").ensure()


@pytest.fixture
def records_url(datadir) -> str:
    """A migrated records database inside ``datadir``."""
    migrate.upgrade(datadir.records_db_url)
    return datadir.records_db_url
