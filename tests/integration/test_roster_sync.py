"""`xuefa roster import` against a running hub: users and groups reach JupyterHub over REST.

Each test imports the roster it needs with the administrator's real command (a subprocess with
``--data-dir``), which finds the hub through ``DATA/hub/hub_url`` + ``api_token``, and then
checks what the hub itself says through ``/hub/api``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from grading.records import people
from grading.records.db import session_scope
from grading.records.models import Learner
from hub_config.hubsync import running_hub, sync_hub
from tests.integration.conftest import ROSTER, new_session, write_roster

pytestmark = pytest.mark.integration

NEWBIE = ["newbie1", "新学员", "测试市/西场镇/新村", "年轻干部", "学员", "", "Init-pass-2026"]


def roster_import(hub, rows, name, *options) -> str:
    path = write_roster(hub.roster_path.with_name(name), rows)
    r = subprocess.run([str(Path(sys.executable).parent / "xuefa"), "roster", "import", *options,
                        "--data-dir", str(hub.datadir.root), str(path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "已同步到平台" in r.stdout, r.stdout  # it found the running hub
    return r.stdout


def unit_group(hub, path: str) -> dict:
    """The hub's group for the unit at ``path`` (found through its properties)."""
    groups = hub.api("GET", "/groups").json()
    found = [g for g in groups if g["name"].startswith("unit-")
             and (g.get("properties") or {}).get("path") == path]
    assert len(found) == 1, (path, [(g["name"], g.get("properties")) for g in groups])
    return found[0]


def test_import_creates_users_and_groups_in_the_running_hub(hub):
    assert hub.api("GET", "/users/newbie1").status_code == 404
    roster_import(hub, [*ROSTER, NEWBIE], "with-newbie.csv")
    user = hub.api("GET", "/users/newbie1").json()
    assert {"role-learner", "audience-young_cadre"} <= set(user["groups"])
    # a group for every unit on the path, each carrying its readable path
    for path in ("测试市", "测试市/西场镇", "测试市/西场镇/新村"):
        assert "newbie1" in unit_group(hub, path)["users"]
    assert "learner1" not in unit_group(hub, "测试市/西场镇")["users"]
    # the admin's rights come from the role-admin group
    assert "admin1" in hub.api("GET", "/groups/role-admin").json()["users"]
    # syncing again changes nothing (idempotent)
    api_url, token = running_hub(hub.datadir)
    again = sync_hub(api_url, token, hub.datadir.records_db_url)
    assert not (again.users_created or again.groups_changed or again.groups_deleted), again


def test_reimport_moves_a_learner_between_unit_groups(hub):
    with session_scope(hub.datadir.records_db_url) as s:
        learner_id = s.query(Learner.id).filter_by(username="learner1").scalar()
    moved = [[*row[:2], "测试市/西场镇/新村", *row[3:]] if row[0] == "learner1" else row
             for row in [*ROSTER, NEWBIE]]
    roster_import(hub, moved, "learner1-moved.csv")
    assert "learner1" in unit_group(hub, "测试市/西场镇/新村")["users"]
    assert "learner1" not in unit_group(hub, "测试市/城东镇")["users"]
    assert "learner1" in unit_group(hub, "测试市")["users"]
    # the same person (records stay linked), only the unit changed
    assert people.learner_info(hub.datadir.records_db_url, "learner1")["unit_path"] == "测试市/西场镇/新村"
    with session_scope(hub.datadir.records_db_url) as s:
        assert s.query(Learner.id).filter_by(username="learner1").scalar() == learner_id


def test_deactivated_person_loses_server_groups_and_login(hub):
    session = hub.login("spare2")
    assert hub.spawn(session, "spare2").status_code == 200
    assert (hub.api("GET", "/users/spare2").json().get("servers") or {}).get("")
    out = roster_import(hub, [row for row in ROSTER if row[0] != "spare2"], "without-spare2.csv",
                        "--deactivate-missing-everywhere")
    assert "spare2" in out  # the summary names who was deactivated
    user = hub.api("GET", "/users/spare2").json()
    assert not (user.get("servers") or {}), user  # its server was stopped by the sync
    assert not [g for g in user["groups"] if g.startswith(people.MANAGED_PREFIXES)], user["groups"]
    # newbie1 left the roster too, and with them the only people of 西场镇: its groups are gone
    groups = hub.api("GET", "/groups").json()
    assert not [g["name"] for g in groups if "西场镇" in str(g.get("properties"))], groups
    r = hub.try_login("spare2", hub.passwords["spare2"], new_session())
    assert r.status_code == 403
    # back on the roster: can log in again with the password they chose (not reset)
    roster_import(hub, ROSTER, "spare2-back.csv")
    assert "role-learner" in hub.api("GET", "/users/spare2").json()["groups"]
    assert hub.try_login("spare2", hub.passwords["spare2"], new_session()).status_code == 302


def test_city_sized_roster_syncs_past_the_hubs_page_limit(hub):
    # JupyterHub returns at most 200 users or groups per request, whatever limit is asked for
    many = [[f"cun{i:03d}", f"村民{i}", f"测试市/北镇/第{i % 40}村", "法律明白人", "学员", "", ""]
            for i in range(230)]
    roster_import(hub, [*ROSTER, *many], "city.csv")
    assert len(hub.api("GET", "/groups/audience-volunteer").json()["users"]) == 231  # + learner2
    api_url, token = running_hub(hub.datadir)
    again = sync_hub(api_url, token, hub.datadir.records_db_url)  # would re-create users 201+
    assert not (again.users_created or again.groups_changed or again.groups_deleted), again
    roster_import(hub, ROSTER, "small-again.csv", "--deactivate-missing-everywhere")
    assert hub.api("GET", "/groups/audience-volunteer").json()["users"] == ["learner2"]


@pytest.fixture(scope="module")
def hub_env():
    # no dashboards or culler needed here: cheaper on 2 shared cores
    return {"XUEFA_DISABLE_SERVICES": "dashboards,idle-culler"}
