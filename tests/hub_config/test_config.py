"""hub_config.config applied to an empty traitlets Config (TLJH's test_configurer style): the
settings a one-machine hub relies on, without starting a hub."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from traitlets.config import Config

from hub_config import config as hubconfig
from hub_config import roles, services
from hub_config.commands.up import prepare_run
from hub_config.spawner import LAB_LOCALE_PLUGIN, ensure_lab_locale


@pytest.fixture
def applied(datadir, monkeypatch):
    monkeypatch.setenv("XUEFA_DATA_DIR", str(datadir.root))
    monkeypatch.setenv("XUEFA_PORT", "18123")
    monkeypatch.setenv("XUEFA_IP", "127.0.0.2")
    monkeypatch.delenv("XUEFA_DISABLE_SERVICES", raising=False)
    prepare_run(datadir, "127.0.0.2", 18123)  # what `xuefa up` does before the hub starts
    c = Config()
    hubconfig.apply_config(c)
    return c


def _tree(root: Path) -> dict:
    # SQLite's WAL/shm files appear on any read of a WAL database: the engine's, not ours
    return {str(p.relative_to(root)): (p.stat().st_mtime_ns, p.stat().st_mode)
            for p in root.rglob("*") if not p.name.endswith(("-wal", "-shm"))}


def test_apply_config_writes_nothing(datadir, monkeypatch):
    from grading.records import migrate

    monkeypatch.delenv("XUEFA_DISABLE_SERVICES", raising=False)
    monkeypatch.delenv("XUEFA_RECORDS_DB_URL", raising=False)
    migrate.upgrade(datadir.records_db_url)  # `xuefa up` migrates before the hub starts
    before = _tree(datadir.root)
    c = Config()
    hubconfig.apply_config(c, datadir)
    assert _tree(datadir.root) == before
    # no `xuefa up` wrote a token: the hub runs without the CLI's service
    assert "xuefa-cli" not in {s["name"] for s in c.JupyterHub.services}


def test_up_writes_token_and_hub_url_before_the_hub_starts(datadir):
    prepare_run(datadir, "0.0.0.0", 18124)
    assert datadir.hub_url_file.read_text() == "http://127.0.0.1:18124/hub/api"
    first = datadir.api_token_file.read_text()
    assert stat.S_IMODE(datadir.api_token_file.stat().st_mode) == 0o600
    prepare_run(datadir, "0.0.0.0", 18124)
    assert datadir.api_token_file.read_text() != first  # a fresh token every run


def test_operator_settings_from_config_d(datadir, monkeypatch):
    """DATA/jupyterhub_config.d/*.py run after the packaged settings, on the same ``c``, in
    name order; a file others could write is skipped (it would run as root)."""
    monkeypatch.delenv("XUEFA_DISABLE_SERVICES", raising=False)
    assert stat.S_IMODE(datadir.config_d.stat().st_mode) == 0o700
    (datadir.config_d / "20-sso.py").write_text(
        'c.JupyterHub.authenticator_class = "generic-oauth"\n'
        'c.JupyterHub.template_vars["order"] += ["20"]\n', encoding="utf-8")
    (datadir.config_d / "10-first.py").write_text(
        'c.JupyterHub.template_vars["order"] = ["10"]\n', encoding="utf-8")
    loose = datadir.config_d / "30-loose.py"
    loose.write_text('c.JupyterHub.authenticator_class = "dummy"\n', encoding="utf-8")
    loose.chmod(0o666)
    (datadir.config_d / "notes.txt").write_text("not python", encoding="utf-8")
    c = Config()
    ran = hubconfig.load_operator_config(c, hubconfig.apply_config(c, datadir))
    assert [p.name for p in ran] == ["10-first.py", "20-sso.py"]
    assert c.JupyterHub.authenticator_class == "generic-oauth"
    assert c.JupyterHub.template_vars["order"] == ["10", "20"]
    assert c.JupyterHub.template_vars["platform_name"]  # packaged settings kept


def test_packaged_config_file_loads_config_d(datadir, monkeypatch):
    """The file `xuefa up` gives jupyterhub (-f) loads the operator's directory too."""
    from traitlets.config.loader import PyFileConfigLoader

    monkeypatch.setenv("XUEFA_DATA_DIR", str(datadir.root))
    (datadir.config_d / "sso.py").write_text('c.JupyterHub.authenticator_class = "generic-oauth"\n')
    path = Path(hubconfig.__file__).with_name("jupyterhub_config.py")
    cfg = PyFileConfigLoader(path.name, str(path.parent)).load_config()
    assert cfg.JupyterHub.authenticator_class == "generic-oauth"
    assert cfg.XuefaSpawner.data_dir == str(datadir.root)


def test_network_from_env(applied):
    c = applied
    assert c.JupyterHub.bind_url == "http://127.0.0.2:18123"
    assert c.JupyterHub.hub_ip == "127.0.0.1"
    assert c.JupyterHub.hub_port != 8081  # free port: hubs side by side
    assert c.ConfigurableHTTPProxy.api_url.startswith("http://127.0.0.1:")
    assert c.JupyterHub.tornado_settings == {"slow_spawn_timeout": 0}


def test_state_lives_in_the_data_dir(applied, datadir):
    c = applied
    assert c.JupyterHub.db_url == f"sqlite:///{datadir.hub / 'jupyterhub.sqlite'}"
    assert c.JupyterHub.cookie_secret_file == str(datadir.cookie_secret)
    assert c.XuefaAuthenticator.records_db_url == datadir.records_db_url
    assert c.XuefaSpawner.data_dir == str(datadir.root)


def test_authenticator_and_spawner(applied):
    c = applied
    assert c.JupyterHub.authenticator_class == "hub_config.auth.XuefaAuthenticator"
    assert c.JupyterHub.spawner_class == "hub_config.spawner.XuefaSpawner"
    assert c.Spawner.cmd[0].endswith("/jupyterhub-singleuser")
    assert Path(c.Spawner.cmd[0]).exists()
    assert c.Spawner.disable_user_config is True
    assert c.Spawner.default_url == "/lab"
    (override,) = c.Spawner.group_overrides.values()
    assert override["groups"] == [roles.LEARNER_GROUP]
    # 我的学习, served by the learner's server itself (hub_config.home.server_ext)
    assert override["spawner_override"]["default_url"] == "/xuefa/learning"


def test_templates_are_chinese(applied):
    (path,) = applied.JupyterHub.template_paths
    for name in ("login.html", "page.html", "spawn_pending.html", "home.html", "error.html",
                 "not_running.html"):
        text = (Path(path) / name).read_text(encoding="utf-8")
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text), name
    assert '{% extends "templates/login.html" %}' in (Path(path) / "login.html").read_text()


def test_services_and_roles(applied, datadir):
    c = applied
    by_name = {s["name"]: s for s in c.JupyterHub.services}
    assert {"idle-culler", "records", "dashboards", "xuefa-cli"} <= set(by_name)
    for name in ("records", "dashboards"):
        assert by_name[name]["environment"]["XUEFA_DATA_DIR"] == str(datadir.root)
        assert by_name[name]["url"].startswith("http://127.0.0.1:")
    assert by_name["records"]["command"][-2:] == ["-m", "hub_config.records_service"]
    # the CLI token is this run's, written 0600 where `xuefa roster import` finds it
    token_file = datadir.api_token_file
    assert by_name["xuefa-cli"]["api_token"] == token_file.read_text()
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    role_by_name = {r["name"]: r for r in c.JupyterHub.load_roles}
    assert role_by_name["xuefa-cli"]["services"] == ["xuefa-cli"]
    assert {"admin:users", "admin:groups", "admin:servers"} <= set(role_by_name["xuefa-cli"]["scopes"])
    admin = role_by_name["xuefa-admin"]
    assert admin["groups"] == [roles.ADMIN_GROUP]
    assert {"admin-ui", "access:services"} <= set(admin["scopes"])
    assert not any(s.startswith("access:servers") for s in admin["scopes"])  # learners' work is theirs
    assert role_by_name["user"]["scopes"] == ["self", "access:services!service=records"]
    assert "access:services!service=records" in c.Spawner.server_token_scopes
    assert "inherit" not in c.Spawner.server_token_scopes
    assert role_by_name["idle-culler"]["services"] == ["idle-culler"]


def test_services_can_be_left_out(datadir, monkeypatch):
    monkeypatch.setenv("XUEFA_DISABLE_SERVICES", "dashboards,idle-culler")
    specs, _ = services.services(datadir, api_token=None)
    names = {s["name"] for s in specs}
    assert "dashboards" not in names and "idle-culler" not in names and "xuefa-cli" not in names
    assert "records" in names


def test_lab_locale_override(tmp_path):
    path = ensure_lab_locale(tmp_path)
    assert json.loads(path.read_text())[LAB_LOCALE_PLUGIN] == {"locale": "zh_CN"}
    path.write_text(json.dumps({LAB_LOCALE_PLUGIN: {"locale": "en"}, "x": 1}))
    ensure_lab_locale(tmp_path)  # an operator's choice is kept
    assert json.loads(path.read_text())[LAB_LOCALE_PLUGIN] == {"locale": "en"}


def test_groups_loaded_from_the_roster(datadir, monkeypatch, tmp_path):
    from grading.records import migrate
    from grading.records.roster import import_roster

    monkeypatch.delenv("XUEFA_RECORDS_DB_URL", raising=False)
    migrate.upgrade(datadir.records_db_url)
    roster = tmp_path / "roster.csv"
    roster.write_text("账号,姓名,单位,身份,角色,手机,初始密码\n"
                      "admin1,甲,海安市,干部,管理员,,chushi2026a\n"
                      "ganbu1,乙,海安市/城东镇,干部,学员,,chushi2026a\n", encoding="utf-8")
    assert not import_roster(roster, datadir.records_db_url, reports_dir=datadir.reports).errors
    groups = hubconfig.hub_groups(datadir)
    assert groups["role-admin"]["users"] == ["admin1"]
    assert groups["role-learner"]["users"] == ["ganbu1"]
    assert groups["audience-cadre"]["users"] == ["admin1", "ganbu1"]
    units = {k: v for k, v in groups.items() if k.startswith("unit-")}
    assert {v["properties"]["path"] for v in units.values()} == {"海安市", "海安市/城东镇"}
