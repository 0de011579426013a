"""A partial roster file (a clerk's four rows) against the running platform: it deactivates
nobody unless the administrator asks, even then never the last administrator, and the people who
stay keep their running servers.

Everything through the administrator's real ``xuefa roster import`` (which finds the running hub
and syncs it over REST), checked in the records DB and through the hub's own API.
"""

from __future__ import annotations

import subprocess

import pytest
from sqlalchemy import select

from grading.records.db import session_scope
from grading.records.models import Learner
from tests.integration.conftest import VENV_BIN
from tests.security.conftest import INITIAL_PASSWORD, ROSTER, write_roster

pytestmark = pytest.mark.integration

# four new people in admin1's own unit (测试市): the rows a city office might send alone
FOUR = [[f"cityclerk{i}", f"办事员{i}", "测试市", "干部", "学员", "", INITIAL_PASSWORD]
        for i in range(1, 5)]


def roster_import(target, rows, name, *options) -> str:
    path = write_roster(target.roster_path.with_name(name), rows)
    r = subprocess.run([str(VENV_BIN / "xuefa"), "roster", "import", *options,
                        "--data-dir", str(target.datadir.root), str(path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def active(target) -> dict[str, bool]:
    with session_scope(target.datadir.records_db_url) as s:
        return dict(s.execute(select(Learner.username, Learner.active)).all())


def server_running(target, username: str) -> bool:
    return bool((target.api("GET", f"/users/{username}").json().get("servers") or {}).get(""))


def test_a_four_row_file_deactivates_nobody_and_stops_no_server(target, attacker):
    before = {u for u, on in active(target).items() if on}
    assert server_running(target, "learner1")
    out = roster_import(target, FOUR, "four-rows.csv")
    assert "停用 0" in out, out
    assert "--deactivate-missing" in out, "the summary says how to deactivate on purpose"
    now = active(target)
    assert before <= {u for u, on in now.items() if on}, "someone was deactivated"
    assert server_running(target, "learner1"), "the sync stopped a server of someone who stays"
    assert "admin1" in target.api("GET", "/groups/role-admin").json()["users"]
    stdout, err = attacker.run("print('still here')")
    assert "still here" in stdout, err


def test_deactivating_on_purpose_previews_and_keeps_the_last_administrator(target, attacker):
    roster_import(target, FOUR, "four-rows.csv")
    # the preview lists who would go, across the platform, and changes nothing
    preview = roster_import(target, FOUR, "four-rows.csv", "--dry-run",
                            "--deactivate-missing-everywhere")
    assert "将停用" in preview and "learner1" in preview and "trainer1" in preview, preview
    assert "admin1" in preview and "保留" in preview, "the last admin is kept, and it says so"
    assert active(target)["learner1"] and server_running(target, "learner1")
    # in the file's unit (测试市) only admin1 is missing: the only active administrator stays
    out = roster_import(target, FOUR, "four-rows.csv", "--deactivate-missing")
    assert "停用 0" in out and "admin1" in out, out
    now = active(target)
    assert now["admin1"] and now["learner1"] and now["trainer1"]
    assert "admin1" in target.api("GET", "/groups/role-admin").json()["users"]
    assert server_running(target, "learner1")
    # the clerks leave again the same way: a one-row file for 测试市 with the admin on it
    out = roster_import(target, [ROSTER[0]], "admin-only.csv", "--deactivate-missing")
    assert all(f"cityclerk{i}" in out for i in range(1, 5)), out
    now = active(target)
    assert now["admin1"] and not any(now[f"cityclerk{i}"] for i in range(1, 5))
    assert server_running(target, "learner1")
