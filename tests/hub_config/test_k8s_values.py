"""The Zero to JupyterHub values install a valid chart config and load xuefa with KubeSpawner.

What helm does before rendering is redone here: coalesce our values over the chart's defaults
(vendored chart-defaults.yaml) and validate against the chart's schema (vendored
values.schema.json). Then the chart's hub.extraConfig snippets run against a traitlets Config
the way the chart's jupyterhub_config.py runs them."""

from __future__ import annotations

import asyncio
import copy
import json
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import pytest
import yaml
from traitlets.config import Config

K8S = Path(__file__).parents[2] / "hub_config" / "k8s"


def coalesce(defaults: dict, values: dict) -> dict:
    """Helm's merge of user values over chart defaults: maps merge, null deletes a key."""
    out = copy.deepcopy(defaults)
    for key, value in values.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = coalesce(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


@pytest.fixture(scope="module")
def schema() -> dict:
    return json.loads((K8S / "values.schema.json").read_text())


@pytest.fixture(scope="module")
def values() -> dict:
    ours = yaml.safe_load((K8S / "values.yaml").read_text(encoding="utf-8"))
    return coalesce(yaml.safe_load((K8S / "chart-defaults.yaml").read_text()), ours)


def test_values_validate_against_chart_schema(schema, values):
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(values), key=str)
    assert not errors, "\n".join(f"{'.'.join(map(str, e.path))}: {e.message}" for e in errors)


def test_schema_catches_misplaced_values(schema, values):
    """The vendored schema is strict enough to matter: a typo'd key fails as it would in helm."""
    bad = copy.deepcopy(values)
    bad["hub"]["extraVolumeMount"] = bad["hub"].pop("extraVolumeMounts")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = copy.deepcopy(values)
    bad["hub"]["db"]["type"] = "postgresql"  # the chart spells it "postgres"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_platform_uses_postgres_secrets_shared_storage_and_culler(values):
    hub, single = values["hub"], values["singleuser"]
    assert hub["db"]["type"] == "postgres" and hub["db"].get("password") is None
    for var in ("PGPASSWORD", "XUEFA_RECORDS_DB_URL", "XUEFA_GRADEBOOK_DB_URL"):
        assert "secretKeyRef" in hub["extraEnv"][var]["valueFrom"], var
    claim = {v["persistentVolumeClaim"]["claimName"] for v in hub["extraVolumes"]}
    assert claim == {v["persistentVolumeClaim"]["claimName"] for v in single["storage"]["extraVolumes"]}
    mounts = {m["mountPath"] for m in single["storage"]["extraVolumeMounts"]}
    assert "/srv/xuefa/exchange" in mounts
    assert values["cull"]["enabled"] is True


@pytest.fixture
def chart_config(values, monkeypatch, tmp_path) -> Config:
    """Run hub.extraConfig like the chart's jupyterhub_config.py, after the chart's own settings."""
    values = copy.deepcopy(values)
    values["custom"]["xuefa"]["dataDir"] = str(tmp_path / "srv")  # the RWX volume's mount

    def get_config(key, default=None):
        node = values
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    monkeypatch.setitem(sys.modules, "z2jh", types.SimpleNamespace(get_config=get_config))
    monkeypatch.setenv("XUEFA_DATA_DIR", str(tmp_path / "srv"))
    monkeypatch.setenv("XUEFA_DISABLE_SERVICES", "")
    for var in ("XUEFA_RECORDS_DB_URL", "XUEFA_GRADEBOOK_DB_URL"):
        monkeypatch.delenv(var, raising=False)
    for var, value in values["hub"]["extraEnv"].items():
        if isinstance(value, str) and var.startswith("XUEFA_SERVICE"):
            monkeypatch.setenv(var, value)  # the hub pod's environment (hub.extraEnv)
    c = Config()
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"  # what the chart sets first
    c.JupyterHub.db_url = values["hub"]["db"]["url"]
    c.JupyterHub.hub_connect_url = "http://hub:8081"
    c.KubeSpawner.volume_mounts = [{"name": "home", "mountPath": "/home/jovyan"}]
    for _key, snippet in sorted(values["hub"]["extraConfig"].items()):
        exec(compile(snippet, f"hub.extraConfig.{_key}", "exec"), {"c": c})
    return c


def test_hub_config_loads_with_kubespawner(chart_config, values):
    from jupyterhub.app import JupyterHub
    from kubespawner import KubeSpawner

    c = chart_config
    assert c.JupyterHub.spawner_class == "kubespawner.KubeSpawner"
    # chart-owned settings survive the platform config laid over them
    assert c.JupyterHub.db_url == values["hub"]["db"]["url"]
    assert c.JupyterHub.hub_connect_url == "http://hub:8081"
    app = JupyterHub(config=c)
    assert app.spawner_class is KubeSpawner


def test_platform_settings_laid_over_the_chart(chart_config, values):
    c = chart_config
    if "XuefaAuthenticator" not in c:
        pytest.skip("hub_config.config not installed")
    assert c.JupyterHub.authenticator_class == "hub_config.auth.XuefaAuthenticator"
    assert "group_overrides" in c.Spawner  # learners still land on 我的学习
    assert "cmd" not in c.Spawner  # the chart's singleuser command, not the venv's path
    services = {s["name"]: s for s in c.JupyterHub.services}
    assert "idle-culler" not in services  # the chart's culler (values `cull`) does it
    assert not any("idle-culler" in r.get("services", []) for r in c.JupyterHub.load_roles)
    ports = values["custom"]["xuefa"]["servicePorts"]
    assert {p["port"] for p in values["hub"]["service"]["extraPorts"]} == set(ports.values())
    for name, port in ports.items():
        if name in services:
            assert services[name]["url"] == f"http://hub:{port}"
            assert services[name]["environment"]["XUEFA_SERVICE_BIND"] == "0.0.0.0"
    if "dashboards" in services:
        assert str(ports["dashboards"]) in services["dashboards"]["command"]
    assert any(n.startswith("formgrader-") for n in services) or not services, sorted(services)
    for name, spec in services.items():
        if name not in ports and spec.get("command") and spec.get("url"):
            # e.g. formgrader-<course>: not published, its server binds the host of its URL
            assert spec["url"].startswith("http://127.0.0.1:"), (name, spec["url"])


@pytest.fixture
def kubeconfig(tmp_path, monkeypatch):
    """KubeSpawner loads a client config when created; this cluster is never contacted."""
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "none",
        "clusters": [{"name": "none", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "none", "user": {"token": "unused"}}],
        "contexts": [{"name": "none", "context": {"cluster": "none", "user": "none"}}],
    }))
    from kubernetes_asyncio.config import kube_config

    # read from $KUBECONFIG at import time, so set where the loader looks
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))
    return path


@pytest.mark.parametrize(("groups", "slug"), [
    (["role-learner", "audience-cadre"], "learner"),
    (["role-trainer"], "trainer"),
    (["role-learner", "role-admin"], "admin"),
    ([], "learner"),
])
def test_profiles_per_role_and_uid_per_user(chart_config, kubeconfig, groups, slug):
    asyncio.run(_check_profiles(chart_config, groups, slug))  # KubeSpawner wants a running loop


async def _check_profiles(chart_config, groups, slug):
    from kubespawner import KubeSpawner

    spawner = KubeSpawner(_mock=True, config=chart_config)
    spawner.user.id = 7
    spawner.user.groups = [SimpleNamespace(name=g) for g in groups]
    profiles = chart_config.KubeSpawner.profile_list(spawner)
    assert [p["slug"] for p in profiles] == [slug]
    assert spawner.uid(spawner) == 100007 and spawner.fs_gid == 100
    assert spawner.environment["XUEFA_DATA_DIR"].endswith("srv")

    spawner._apply_overrides(profiles[0]["kubespawner_override"])
    mounts = {m["mountPath"] for m in spawner.volume_mounts}
    assert "/home/jovyan" in mounts  # the chart's mounts are kept
    assert ("/srv/xuefa/courses" in mounts) == (slug == "trainer")  # only trainers see course roots


def test_runbook_documents_every_custom_setting(values):
    readme = (K8S / "README.md").read_text(encoding="utf-8")
    for key in values["custom"]["xuefa"]:
        assert f"`{key}`" in readme, f"custom.xuefa.{key} is not documented in the runbook"
    assert "4.4.0" in readme and "BSD" in readme


def test_hub_db_url_scheme_works_on_real_postgresql(values, pg_url):
    """hub.db.url's driver (psycopg 3) is one JupyterHub's ORM accepts: tables, a user, a group."""
    from jupyterhub import orm

    scheme = values["hub"]["db"]["url"].split("://", 1)[0]
    url = pg_url.replace("postgresql+psycopg", scheme)
    session = orm.new_session_factory(url)()
    try:
        group = orm.Group(name="role-learner")
        user = orm.User(name="ganbu1")
        user.groups.append(group)
        session.add_all([group, user])
        session.commit()
        assert session.query(orm.User).one().groups[0].name == "role-learner"
    finally:
        session.close()
        session.get_bind().dispose()


# --- the hub pod's services listen where the proxy pod can reach them ---------------------------

def _listening(port: int) -> set[str]:
    """Local addresses (dotted IPv4) with a listening TCP socket on ``port`` (/proc/net/tcp)."""
    import socket
    import struct

    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        addr, hexport = local.split(":")
        if state == "0A" and int(hexport, 16) == port:
            found.add(socket.inet_ntoa(struct.pack("<I", int(addr, 16))))
    return found


def _records_service_binds(tmp_path, bind: str | None) -> set[str]:
    import os
    import subprocess
    import time

    from hub_config.services import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("XUEFA_SERVICE_BIND", "XUEFA_RECORDS_DB_URL")}
    env.update(XUEFA_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(Path(__file__).parents[2]),
               JUPYTERHUB_SERVICE_URL=f"http://hub:{port}",  # what apply_k8s publishes
               JUPYTERHUB_SERVICE_PREFIX="/services/records/")
    if bind:
        env["XUEFA_SERVICE_BIND"] = bind
    proc = subprocess.Popen([sys.executable, "-m", "hub_config.records_service"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not (addrs := _listening(port)):
            assert proc.poll() is None, proc.stderr.read().decode()
            assert time.monotonic() < deadline, "records service did not listen"
            time.sleep(0.1)
        return addrs
    finally:
        proc.terminate()
        proc.wait(10)


def test_values_make_hub_services_listen_beyond_loopback(values):
    assert values["hub"]["extraEnv"]["XUEFA_SERVICE_BIND"] == "0.0.0.0"


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc/net/tcp")
def test_records_service_binds_all_interfaces_only_when_told(tmp_path):
    """A real records service: loopback by default (one machine), every interface with the
    hub's ``XUEFA_SERVICE_BIND=0.0.0.0`` (the hub pod, reached by the proxy pod)."""
    assert _records_service_binds(tmp_path, None) == {"127.0.0.1"}
    assert _records_service_binds(tmp_path, "0.0.0.0") == {"0.0.0.0"}


def test_hub_passes_the_bind_address_to_its_web_services(tmp_path, monkeypatch):
    """On the hub pod ``hub.extraEnv`` sets the variable for the hub; the hub does not pass its
    environment on, so the services' entries must carry it, and Voila must use it."""
    from grading.host.datadir import DataDir
    from hub_config import dashboards_service, services

    monkeypatch.setenv("XUEFA_SERVICE_BIND", "0.0.0.0")
    monkeypatch.setenv("XUEFA_DISABLE_SERVICES", "idle-culler,grading,formgrader")
    specs, _ = services.services(DataDir(tmp_path / "data"), None)
    by_name = {s["name"]: s for s in specs}
    for name in ("records", "dashboards"):
        if name in by_name:
            assert by_name[name]["environment"]["XUEFA_SERVICE_BIND"] == "0.0.0.0", name
    argv = dashboards_service.DashboardsService().voila_argv(tmp_path, hub=True)
    assert "--Voila.ip=0.0.0.0" in argv
    monkeypatch.delenv("XUEFA_SERVICE_BIND")
    assert "--Voila.ip=127.0.0.1" in dashboards_service.DashboardsService().voila_argv(tmp_path)


def test_database_url_examples_name_psycopg3():
    """Every PostgreSQL URL an operator copies from the runbook, the values or the data-dir docs
    names psycopg 3 (what xuefa installs): SQLAlchemy before 2.1 reads a bare ``postgresql://``
    as psycopg2, and nbgrader passes the gradebook URL to SQLAlchemy unchanged."""
    import re

    root = Path(__file__).parents[2]
    for path in (K8S / "README.md", K8S / "values.yaml", root / "grading" / "host" / "datadir.py"):
        text = path.read_text(encoding="utf-8")
        urls = re.findall(r"postgres(?:ql)?(?:\+\w+)?://", text)
        assert urls, path
        assert set(urls) == {"postgresql+psycopg://"}, (path, set(urls))
