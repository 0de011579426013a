"""Platform files go into learners' homes without following anything the learner put there
(real files, a real unprivileged account when root)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from types import SimpleNamespace

import pytest

# 我的错题本.ipynb: the page root still puts into every learner's home
from hub_config.home import SKEL, install_home, put_file
from hub_config.home import WRONGBOOK_NOTEBOOK as HOME_NOTEBOOK
from hub_config.roles import LEARNER_GROUP
from hub_config.spawner import XuefaSpawner

NOBODY = 65534


@pytest.fixture
def victim(tmp_path) -> Path:
    """A file the learner must not be able to change through the platform."""
    v = tmp_path / "root-owned.conf"
    v.write_text("secret=1\n")
    v.chmod(0o600)
    return v


def _home(tmp_path) -> Path:
    home = tmp_path / "home" / "learner9"
    home.mkdir(parents=True)
    return home


def test_home_page_link_is_replaced_not_followed(tmp_path, victim):
    home = _home(tmp_path)
    (home / HOME_NOTEBOOK).symlink_to(victim)
    uid = NOBODY if os.geteuid() == 0 else None
    install_home(home, uid, uid)
    assert victim.read_text() == "secret=1\n"
    st = os.stat(victim)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    page = home / HOME_NOTEBOOK
    assert not page.is_symlink() and page.read_bytes() == (SKEL / HOME_NOTEBOOK).read_bytes()
    assert stat.S_IMODE(page.stat().st_mode) == 0o644
    if uid is not None:
        assert page.stat().st_uid == NOBODY


def test_planted_temporary_name_is_not_written_through(tmp_path, victim):
    """The old install copied to a fixed ``.<page>.ipynb.tmp`` (following a link there),
    then chmod/chown-ed the result through the link it had moved into place."""
    home = _home(tmp_path)
    (home / f".{HOME_NOTEBOOK}.tmp").symlink_to(victim)
    (home / HOME_NOTEBOOK).write_text("{}")  # outdated: the platform replaces it
    install_home(home, NOBODY if os.geteuid() == 0 else None, NOBODY if os.geteuid() == 0 else None)
    assert victim.read_text() == "secret=1\n"
    st = os.stat(victim)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()


def test_link_to_a_root_file_holding_the_page_is_not_chowned(tmp_path):
    """A link to a root file whose bytes equal the page (the packaged copy itself, say) was
    left in place and chmod/chown-ed through: the learner then owned the platform's file."""
    packaged = tmp_path / "packaged.ipynb"
    packaged.write_bytes((SKEL / HOME_NOTEBOOK).read_bytes())
    packaged.chmod(0o600)
    home = _home(tmp_path)
    (home / HOME_NOTEBOOK).symlink_to(packaged)
    install_home(home, NOBODY if os.geteuid() == 0 else None, NOBODY if os.geteuid() == 0 else None)
    st = os.stat(packaged)
    assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == os.geteuid()
    assert not (home / HOME_NOTEBOOK).is_symlink()


def test_hard_link_to_a_root_file_is_replaced_not_written(tmp_path, victim):
    home = _home(tmp_path)
    os.link(victim, home / HOME_NOTEBOOK)
    install_home(home)
    assert victim.read_text() == "secret=1\n" and os.stat(victim).st_nlink == 1


def test_skeleton_does_not_write_through_a_linked_dir(tmp_path, victim):
    skel = tmp_path / "skel"
    (skel / "sub").mkdir(parents=True)
    (skel / "sub" / victim.name).write_text("platform\n")
    spawner = XuefaSpawner(user=SimpleNamespace(name="learner9", url="/user/learner9/",
                                                groups=[SimpleNamespace(name=LEARNER_GROUP)]),
                           data_dir=str(tmp_path / "data"), skeleton_dir=str(skel))
    spawner.home_dir.mkdir(parents=True)
    (spawner.home_dir / "sub").symlink_to(victim.parent)  # sub/ -> the dir holding the victim
    assert spawner.install_skeleton() == []
    assert victim.read_text() == "secret=1\n"


def test_put_file_refuses_paths_leaving_the_home(tmp_path):
    home = _home(tmp_path)
    for bad in ("../x", "/etc/x", "a/../../x", ""):
        with pytest.raises(ValueError):
            put_file(home, bad, b"x")


def test_old_home_notebook_is_taken_away_unless_changed(tmp_path):
    """我的学习 is served by the learner's server now: the notebook an earlier version put into
    homes goes at the next start, unless the learner changed it (or it is a link)."""
    import subprocess

    repo = Path(__file__).resolve().parents[2]
    old = subprocess.run(["git", "show", "b96d189:hub_config/home/skel/我的学习.ipynb"], cwd=repo,
                         capture_output=True, check=False).stdout
    if not old:
        pytest.skip("no git history here to read the old page from")
    home = _home(tmp_path)
    (home / "我的学习.ipynb").write_bytes(old)
    install_home(home)
    assert not (home / "我的学习.ipynb").exists() and (home / HOME_NOTEBOOK).exists()
    (home / "我的学习.ipynb").write_bytes(old + b" ")
    install_home(home)
    assert (home / "我的学习.ipynb").exists()
