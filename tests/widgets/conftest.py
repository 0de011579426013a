"""Widgets are tested without a kernel: ipywidgets' own DummyComm records what they send."""

from __future__ import annotations

import pytest
from ipywidgets.widgets.tests.utils import setup_test_comm, teardown_test_comm

import widgets as xf


@pytest.fixture(autouse=True)
def dummy_comm():
    setup_test_comm()
    yield
    teardown_test_comm()


@pytest.fixture
def nb(tmp_path, monkeypatch):
    """An (empty) notebook path in a temp dir; the learner is "ganbu1"; no events."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XUEFA_EVENTS_DIR", str(tmp_path / "events"))
    monkeypatch.setenv("XUEFA_PROGRESS_DIR", str(tmp_path / "progress"))
    path = tmp_path / "assessment.ipynb"
    path.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    return path


@pytest.fixture
def practice(nb):
    return xf.setup(course="demo", mode="practice", notebook=nb, username="ganbu1", events=False)


@pytest.fixture
def assessment(nb):
    return xf.setup(course="demo", mode="assessment", notebook=nb, username="ganbu1", events=False)
