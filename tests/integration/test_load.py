"""``xuefa load`` end to end: a few simulated learners through a throwaway platform.

The 50-learner figures of the issue come from running the command by hand (README); here
three learners prove every step works over real HTTP: login with the forced password change,
spawn as system users, 我的学习 through Voila, nbgrader submit from the learner's kernel, the
grading service's score read back through the records service, and nothing left running."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from hub_config.tools.platform import VENV_BIN

pytestmark = pytest.mark.integration


def load_users() -> set[str]:
    users = subprocess.run(["getent", "passwd"], capture_output=True, text=True).stdout
    # accounts are per platform: xf<hash of the data dir>-load001
    return {line.split(":")[0] for line in users.splitlines() if re.match(r"xf[0-9a-f]*-load", line)}


def run_load(env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "xuefa"), "load", "--learners", "3", "--ramp", "3",
                           "--score-timeout", "300"], capture_output=True, text=True, timeout=900,
                          env={**os.environ, **(env or {})})


def assert_nothing_lost(proc: subprocess.CompletedProcess) -> None:
    out = proc.stdout.strip().splitlines()
    assert out, proc.stderr[-3000:]
    last = out[-1]
    m = re.fullmatch(r"RESULT learners=(\d+) lost=(\d+) errors=(\d+) p95_login_s=([\d.]+) "
                     r"p95_spawn_s=([\d.]+) p95_score_s=([\d.]+) mem_per_learner_mb=([\d.]+)", last)
    assert m, f"{last}\n{proc.stderr[-3000:]}"
    learners, lost, errors = (int(m.group(i)) for i in (1, 2, 3))
    assert (learners, lost, errors) == (3, 0, 0), "\n".join(out) + proc.stderr[-3000:]
    assert proc.returncode == 0
    assert float(m.group(7)) > 20  # a server and a kernel per learner were measured
    assert any(line.strip().startswith("submit-to-score: n=3") for line in out), out


def test_three_learners_lose_nothing():
    before = load_users()
    assert_nothing_lost(run_load())
    # the throwaway platform's system users are gone again
    assert load_users() == before


def test_whole_platform_on_postgresql(pg_cluster):
    """Hub, records and gradebook databases on PostgreSQL by configuration alone (the
    variables the Kubernetes values set), the same learners' journey on top."""
    hub, records = pg_cluster.create_database("hub"), pg_cluster.create_database("records")
    gradebook = pg_cluster.create_database("gradebook")
    try:
        proc = run_load({"XUEFA_HUB_DB_URL": hub, "XUEFA_RECORDS_DB_URL": records,
                         # one course in this run; the template names one database per course
                         "XUEFA_GRADEBOOK_DB_URL": gradebook.replace("{", "{{").replace("}", "}}")})
        assert_nothing_lost(proc)
        import psycopg

        for url, table in ((hub, "users"), (records, "results"), (gradebook, "submitted_assignment")):
            with psycopg.connect(url.replace("postgresql+psycopg", "postgresql")) as conn:
                n = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            assert n >= 3, (url, table, n)
    finally:
        for url in (hub, records, gradebook):
            pg_cluster.drop_database(url)
