"""XuefaSpawner's machinery without a hub: system users, the interpreter learners can run,
the home skeleton. The real spawn over HTTP is in tests/integration/test_hub.py."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from hub_config.spawner import (XuefaSpawner, ensure_system_user, is_root, reachable_by_others,
                                shared_interpreter, system_username)

root_only = pytest.mark.skipif(not is_root(), reason="needs root (system users)")
TEST_USER = system_username("zz_spawner_test")


@pytest.fixture
def open_dir():
    """A temp dir other unix users can enter (pytest's tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="xuefa-sp-"))
    d.chmod(0o755)
    yield d
    subprocess.run(["rm", "-rf", str(d)], check=False)


@root_only
def test_system_user_is_idempotent_and_follows_the_data_dir(open_dir):
    home = open_dir / "home" / "a"
    try:
        first = ensure_system_user(TEST_USER, home)
        again = ensure_system_user(TEST_USER, home)
        assert first.pw_uid == again.pw_uid and first.pw_uid != 0
        assert home.stat().st_uid == first.pw_uid and (home.stat().st_mode & 0o777) == 0o700
        other = open_dir / "home" / "b"
        assert ensure_system_user(TEST_USER, other).pw_dir == str(other)
    finally:
        subprocess.run(["userdel", TEST_USER], check=False, capture_output=True)


def test_reachable_by_others(open_dir):
    (open_dir / "f").write_text("x")
    assert reachable_by_others(open_dir / "f")
    private = open_dir / "p"
    private.mkdir(mode=0o700)
    (private / "f").write_text("x")
    assert not reachable_by_others(private / "f")


@root_only
def test_learners_can_run_the_server_interpreter(open_dir):
    python = shared_interpreter(open_dir)
    out = subprocess.run(["runuser", "-u", "nobody", "--", str(python), "-c",
                          "import sys, jupyterhub.singleuser, voila, widgets; print(sys.version_info[:2])"],
                         cwd="/", capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(sys.version_info[:2])


def test_skeleton_copied_when_missing_or_older(open_dir):
    skel = open_dir / "skel"
    (skel / "sub").mkdir(parents=True)
    (skel / "我的学习.ipynb").write_text("{}")
    (skel / "sub" / "x.txt").write_text("1")
    spawner = XuefaSpawner(user=SimpleNamespace(name="learner9", url="/user/learner9/"),
                           data_dir=str(open_dir / "data"), skeleton_dir=str(skel))
    spawner.home_dir.mkdir(parents=True)
    assert len(spawner.install_skeleton()) == 2
    assert (spawner.home_dir / "我的学习.ipynb").read_text() == "{}"
    assert spawner.install_skeleton() == []  # up to date: nothing copied again
    os.utime(skel / "sub" / "x.txt", (2e9, 2e9))
    assert spawner.install_skeleton() == [spawner.home_dir / "sub" / "x.txt"]


def test_unix_name_and_allow_root():
    spawner = XuefaSpawner(user=SimpleNamespace(name="learner9", url="/user/learner9/"))
    expected = TEST_USER.replace("zz_spawner_test", "learner9") if is_root() else \
        pwd.getpwuid(os.getuid()).pw_name
    assert spawner.unix_name == expected
    assert "--allow-root" not in spawner.get_args()
