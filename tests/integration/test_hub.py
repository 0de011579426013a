"""The platform foundation over real HTTP (issue 2): the real ``xuefa up`` with a roster,
real login form, real spawner (system users ``xf-<name>`` when root), real RBAC.

One hub for the whole file (the ``hub`` fixture in ``conftest.py``); tests that change an
account (lock-out, deactivation) use the spare accounts so the order of tests does not matter.
"""

from __future__ import annotations

import importlib.util
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest

from hub_config.spawner import XuefaSpawner
from tests.integration.conftest import (INITIAL_PASSWORD, NEW_PASSWORD, ROSTER, new_session,
                                        write_roster)

pytestmark = pytest.mark.integration


def _pids_of(hub, username: str) -> list[int]:
    """Single-user server processes of ``username`` on this platform."""
    markers = {f"JUPYTERHUB_USER={username}".encode(), f"XUEFA_DATA_DIR={hub.datadir.root}".encode()}
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            env = set((entry / "environ").read_bytes().split(b"\0"))
        except OSError:
            continue
        if markers <= env:
            pids.append(int(entry.name))
    return pids


def test_first_login_forces_password_change_before_the_cookie(hub):
    s = new_session()
    r = hub.try_login("trainer1", INITIAL_PASSWORD, s)
    assert r.status_code == 200
    assert 'name="change_nonce"' in r.text and "新密码" in r.text
    assert hub.whoami(s) is None, "no hub login cookie before the password is changed"
    # a weak new password and a mistyped confirmation are refused, in Chinese, still no cookie
    r2 = hub.change_password(s, r, "short")
    assert r2.status_code == 400 and 'name="change_nonce"' in r2.text
    r2 = hub.change_password(s, r, NEW_PASSWORD, confirm=NEW_PASSWORD + "x")
    assert r2.status_code == 400 and "不一致" in r2.text
    assert hub.whoami(s) is None
    r2 = hub.change_password(s, r, NEW_PASSWORD)
    assert r2.status_code == 302
    assert hub.whoami(s) == "trainer1"
    hub.passwords["trainer1"] = NEW_PASSWORD
    # the initial password no longer works, the new one logs in directly
    assert hub.try_login("trainer1", INITIAL_PASSWORD).status_code == 403
    s2 = new_session()
    assert hub.try_login("trainer1", NEW_PASSWORD, s2).status_code == 302
    assert hub.whoami(s2) == "trainer1"


def test_login_with_roster_account(hub):
    s = hub.login("learner1")
    assert hub.whoami(s) == "learner1"
    groups = hub.api("GET", "/users/learner1").json()["groups"]
    assert "role-learner" in groups and "audience-cadre" in groups


def test_wrong_password_refused(hub):
    s = new_session()
    r = hub.try_login("learner2", "not-the-password1", s)
    assert r.status_code == 403
    assert "密码" in r.text  # zh-CN message on the login form
    assert hub.whoami(s) is None


def test_login_page_is_chinese(hub):
    r = new_session().get(f"{hub.url}/hub/login", timeout=30)
    assert r.status_code == 200
    assert "账号" in r.text and "登录" in r.text and "Sign in" not in r.text


def test_learner_server_spawns_as_system_user(hub):
    s = hub.login("learner1")
    r = hub.spawn(s, "learner1")
    assert r.status_code == 200, r.text[:500]
    pids = _pids_of(hub, "learner1")
    assert pids, "no single-user process found for learner1"
    home = hub.datadir.home("learner1")
    if os.geteuid() == 0:
        from grading.host.sysusers import system_username, user_prefix

        # the platform's own accounts (xf<hash of the data dir>-learner1 for a test platform)
        entry = pwd.getpwnam(system_username("learner1", user_prefix(hub.datadir.root)))
        for pid in pids:
            assert os.stat(f"/proc/{pid}").st_uid == entry.pw_uid
            # niced, session (autogroup) included: under overload the hub and the grading
            # service stay ahead
            nice = XuefaSpawner.nice.default_value
            assert os.getpriority(os.PRIO_PROCESS, pid) == nice
            autogroup = Path(f"/proc/{pid}/autogroup")
            if autogroup.exists():
                assert autogroup.read_text().split()[-1] == str(nice)
        assert home.stat().st_uid == entry.pw_uid
        assert home.stat().st_mode & 0o077 == 0, "a learner's home is closed to others"
    # learners' servers have no JupyterLab (trainers and administrators keep it, in Chinese)
    r = s.get(f"{hub.url}/user/learner1/lab", allow_redirects=False, timeout=60)
    assert r.status_code == 404, r.status_code
    # learners land on 我的学习, served by their own server without a kernel
    r = s.get(f"{hub.url}/user/learner1/", allow_redirects=False, timeout=30)
    assert r.status_code in (301, 302), r.status_code
    assert r.headers["Location"].split("?")[0].endswith("/user/learner1/xuefa/learning")
    if importlib.util.find_spec("hub_config.home") is not None:
        # 我的错题本 is put into the home by the spawner; 我的学习 renders for its owner
        assert (home / "我的错题本.ipynb").exists() and not (home / "我的学习.ipynb").exists()
        r = s.get(f"{hub.url}/user/learner1/", timeout=180)
        assert r.status_code == 200, (r.status_code, r.url)
        assert r.url.split("?")[0].endswith("/xuefa/learning") and "我的学习" in r.text


def test_learner_refused_elsewhere(hub):
    owner = hub.login("learner1")
    hub.spawn(owner, "learner1")
    other = hub.login("learner2")
    # another learner's server: the hub refuses the OAuth hand-over
    r = other.get(f"{hub.url}/user/learner1/xuefa/learning", timeout=60)  # their 我的学习
    assert r.status_code == 403, (r.status_code, r.url)
    assert "/hub/api/oauth2/authorize" in r.url, "refused by the hub, not by a missing page"
    assert other.get(f"{hub.url}/user/learner1/api/contents", timeout=60).status_code == 403
    # the user list API
    assert other.get(f"{hub.url}/hub/api/users", timeout=30).status_code == 403
    # the admin panel
    assert other.get(f"{hub.url}/hub/admin", timeout=30).status_code == 403


def test_admin_reaches_user_list_and_admin_panel(hub):
    admin = hub.login("admin1")
    r = admin.get(f"{hub.url}/hub/api/users", timeout=30)
    assert r.status_code == 200
    assert {"learner1", "learner2"} <= {u["name"] for u in r.json()}
    assert admin.get(f"{hub.url}/hub/admin", timeout=30).status_code == 200


def test_admin_only_service(hub):
    services = hub.api("GET", "/services").json()
    if "dashboards" not in services:
        pytest.skip("dashboards service not registered on this platform")
    learner = hub.login("learner2")
    r = learner.get(f"{hub.url}/services/dashboards/", timeout=120)
    assert r.status_code == 403, (r.status_code, r.url)
    admin = hub.login("admin1")
    r = admin.get(f"{hub.url}/services/dashboards/", timeout=120)
    assert r.status_code == 200, (r.status_code, r.url, r.text[:300])


def _xuefa_roster_import(hub, path, *options) -> str:
    """The administrator's command, against the running hub (REST sync with the xuefa-cli token)."""
    r = subprocess.run([str(Path(sys.executable).parent / "xuefa"), "roster", "import", *options,
                        "--data-dir", str(hub.datadir.root), str(path)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout + r.stderr


def test_deactivated_learner_cannot_log_in(hub):
    hub.login("spare2")  # active: can log in
    assert "role-learner" in hub.api("GET", "/users/spare2").json()["groups"]
    remaining = [row for row in ROSTER if row[0] != "spare2"]
    # and learner2 moves to another unit in the same import
    remaining = [[*row[:2], "测试市/城西镇", *row[3:]] if row[0] == "learner2" else row
                 for row in remaining]
    _xuefa_roster_import(hub, write_roster(hub.roster_path.with_name("roster-2.csv"), remaining),
                         "--deactivate-missing-everywhere")
    s = new_session()
    r = hub.try_login("spare2", hub.passwords["spare2"], s)
    assert r.status_code == 403
    assert hub.whoami(s) is None
    # the running hub was told: spare2 is in no roster group any more, learner2's unit changed
    assert not [g for g in hub.api("GET", "/users/spare2").json()["groups"]
                if g.startswith(("role-", "audience-", "unit-"))]
    groups = hub.api("GET", "/groups").json()
    paths = {g["name"]: (g.get("properties") or {}) for g in groups}
    learner2_units = [g["name"] for g in groups
                      if g["name"].startswith("unit-") and "learner2" in g["users"]]
    assert learner2_units, "learner2 is still in unit groups"
    assert any("城西镇" in str(paths[name]) for name in learner2_units), paths
    # the original roster back, so the accounts the other tests assume are intact
    _xuefa_roster_import(hub, hub.roster_path)


def test_five_failures_pause_the_account_from_that_client_only(hub):
    from tests.security.test_login import client

    for _ in range(5):
        assert hub.try_login("spare1", "wrong-password1").status_code == 403
    s = new_session()
    r = hub.try_login("spare1", INITIAL_PASSWORD, s)
    assert r.status_code == 403, "the guessing client is paused even with the right password"
    assert hub.whoami(s) is None
    # the same words as any refusal (no "locked": that would confirm the account exists) ...
    assert "账号或密码错误" in r.text and "锁定" not in r.text
    # ... and the account's owner on another machine (127.0.0.2) is not locked out
    r = hub.try_login("spare1", INITIAL_PASSWORD, client("127.0.0.2"))
    assert r.status_code == 200 and 'name="change_nonce"' in r.text


@pytest.fixture(scope="module")
def hub_env():
    # the dashboards only need to answer 200/403 here: no warm kernels (2 shared cores)
    return {"XUEFA_DASHBOARDS_PREHEAT": "0"}


def test_trainer_reaches_grading_tools_learner_does_not(hub):
    services = hub.api("GET", "/services").json()
    if "grading" not in services:
        pytest.skip("grading service not registered on this platform")
    need = "access:services!service=grading"
    trainer = hub.login("trainer1")
    assert need in trainer.get(f"{hub.url}/hub/api/user", timeout=30).json()["scopes"]
    learner = hub.login("learner2")
    scopes = learner.get(f"{hub.url}/hub/api/user", timeout=30).json()["scopes"]
    assert need not in scopes and "access:services" not in scopes
    assert "admin-ui" not in scopes and "list:users" not in scopes
