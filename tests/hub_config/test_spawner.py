"""XuefaSpawner's machinery without a hub: system users, the interpreter learners can run,
the home skeleton. The real spawn over HTTP is in tests/integration/test_hub.py."""

from __future__ import annotations

import json
import os
import pwd
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from hub_config.roles import LEARNER_GROUP
from hub_config.spawner import (JUPYTER_DATA, LEARNER_CONFIG, TRAINER_CONFIG, VOILA_TEMPLATE, XuefaSpawner,
                                ensure_system_user, is_root, reachable_by_others,
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


def _person(name: str, group: str) -> SimpleNamespace:
    return SimpleNamespace(name=name, url=f"/user/{name}/", groups=[SimpleNamespace(name=group)])


def test_home_page_only_for_learners(open_dir):
    # 我的错题本.ipynb: 我的学习 itself is served by the learner's server (no notebook)
    from hub_config.home import WRONGBOOK_NOTEBOOK as HOME_NOTEBOOK

    learner = XuefaSpawner(user=_person("learner9", LEARNER_GROUP), data_dir=str(open_dir / "data"))
    assert learner.is_learner
    assert learner.install_home_page() == learner.home_dir / HOME_NOTEBOOK
    trainer = XuefaSpawner(user=_person("trainer9", "role-trainer"), data_dir=str(open_dir / "data"))
    assert not trainer.is_learner
    trainer.home_dir.mkdir(parents=True)
    assert trainer.install_home_page() is None
    assert not (trainer.home_dir / HOME_NOTEBOOK).exists()
    # a platform copy left from when they were a learner goes; their own edited file stays
    (trainer.home_dir / HOME_NOTEBOOK).write_bytes((learner.home_dir / HOME_NOTEBOOK).read_bytes())
    trainer.install_home_page()
    assert not (trainer.home_dir / HOME_NOTEBOOK).exists()
    (trainer.home_dir / HOME_NOTEBOOK).write_text("{}")
    trainer.install_home_page()
    assert (trainer.home_dir / HOME_NOTEBOOK).read_text() == "{}"


def test_servers_render_voila_with_the_xuefa_template():
    args = XuefaSpawner(user=_person("learner9", LEARNER_GROUP)).get_args()
    assert f"--VoilaConfiguration.template={VOILA_TEMPLATE}" in args
    # a page whose kernel never answers ends (and offers 刷新) instead of spinning for ever
    assert any(a.startswith("--VoilaExecutor.timeout=") and int(a.split("=")[1]) > 0 for a in args)
    assert (JUPYTER_DATA / "voila" / "templates" / VOILA_TEMPLATE / "conf.json").is_file()


NBGRADER_CONFIG_CODE = ("from jupyter_core.paths import jupyter_config_path\n"
            "from jupyter_server.extension.config import ExtensionConfigManager\n"
            "from jupyterlab_server.config import get_static_page_config\n"
            "ext = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()\n"
            "print(sorted(k for k, v in ext.items() if k.startswith('nbgrader') and v))\n"
            "print(get_static_page_config(level='all').get('disabledExtensions'))\n")


def nbgrader_config_seen(config_dir) -> tuple[str, str]:
    """(enabled nbgrader server extensions, disabled lab plugins) a server would read."""
    out = subprocess.run([sys.executable, "-c", NBGRADER_CONFIG_CODE], capture_output=True,
                         text=True, check=True,
                         env={**os.environ, "JUPYTER_CONFIG_PATH": str(config_dir)})
    enabled, disabled = out.stdout.splitlines()
    return enabled, disabled


def test_learner_config_turns_nbgrader_off():
    """What a learner's server reads through JUPYTER_CONFIG_PATH: no nbgrader server extensions,
    no nbgrader JupyterLab plugins (the English assignment sidebar)."""
    enabled, disabled = nbgrader_config_seen(LEARNER_CONFIG)
    assert enabled == "[]"
    assert "'@jupyter/nbgrader': True" in disabled


def test_trainer_config_keeps_authoring_drops_the_courseless_formgrader():
    enabled, disabled = nbgrader_config_seen(TRAINER_CONFIG)
    assert enabled == "['nbgrader.server_extensions.validate_assignment']"
    for plugin in ("formgrader", "course-list", "assignment-list"):
        assert f"'@jupyter/nbgrader:{plugin}': True" in disabled
    assert "create-assignment" not in disabled
    assert XuefaSpawner(user=_person("trainer9", "role-trainer")).role_config == TRAINER_CONFIG
    assert XuefaSpawner(user=_person("learner9", LEARNER_GROUP)).role_config == LEARNER_CONFIG


def test_learner_server_loads_only_what_learners_use():
    """Learners' servers: 我的学习 (hub_config.home.server_ext) and Voila, nothing else (no
    JupyterLab, notebook, language server, terminals); idle kernels are culled."""
    code = ("from jupyter_core.paths import jupyter_config_path\n"
            "from jupyter_server.extension.config import ExtensionConfigManager\n"
            "from traitlets.config.loader import JSONFileConfigLoader\n"
            "ext = ExtensionConfigManager(read_config_path=jupyter_config_path()).get_jpserver_extensions()\n"
            "print(sorted(k for k, v in ext.items() if v))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "JUPYTER_CONFIG_PATH": str(LEARNER_CONFIG)})
    assert out.stdout.strip() == "['hub_config.home.server_ext', 'voila.server_extension']"
    cfg = json.loads((LEARNER_CONFIG / "jupyter_server_config.json").read_text())
    assert cfg["ServerApp"]["terminals_enabled"] is False
    cull = cfg["MappingKernelManager"]
    assert cull["cull_idle_timeout"] > 0 and cull["cull_interval"] > 0 and cull["cull_connected"] is False
    # trainers and administrators keep JupyterLab
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "JUPYTER_CONFIG_PATH": str(TRAINER_CONFIG)})
    assert "'jupyterlab'" in out.stdout and "hub_config.home.server_ext" not in out.stdout


def test_learners_servers_start_lean(open_dir):
    """Learners' servers run through hub_config.home.lean (no optional imports they never use);
    trainers' run jupyterhub-singleuser as it is."""
    learner = XuefaSpawner(user=_person("learner9", LEARNER_GROUP), data_dir=str(open_dir / "data"))
    learner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    cmd = learner.server_cmd()
    assert cmd[1:4] == ["-m", "hub_config.home.lean", "jupyterhub.singleuser"], cmd
    trainer = XuefaSpawner(user=_person("trainer9", "role-trainer"), data_dir=str(open_dir / "data"))
    trainer.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    assert "hub_config.home.lean" not in trainer.server_cmd()


def test_lean_runs_a_module_without_the_absent_imports():
    out = subprocess.run([sys.executable, "-m", "hub_config.home.lean", "json.tool", "--help"],
                         capture_output=True, text=True, cwd="/")
    assert out.returncode == 0 and "usage" in out.stdout  # ran the module with its arguments
    probe = subprocess.run([sys.executable, "-c",
                            "from hub_config.home import lean; lean.block(); import sys, jsonschema; "
                            "print(sys.modules.get('rfc3987_syntax'))"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "None"
    # the platform's kernelspec starts kernels the same way
    spec = json.loads((JUPYTER_DATA / "kernels" / "python3" / "kernel.json").read_text())
    assert spec["argv"][:4] == ["python", "-m", "hub_config.home.lean", "ipykernel_launcher"]
