"""The platform on Kubernetes: apply xuefa's hub config inside the Zero to JupyterHub chart.

The chart's own ``jupyterhub_config.py`` already set the proxy, hub URLs, hub DB, KubeSpawner,
images and storage from the Helm values; then it runs ``hub.extraConfig``, where
``hub_config/k8s/values.yaml`` calls::

    from z2jh import get_config
    from hub_config.k8s_config import apply_k8s
    apply_k8s(c, get_config("custom.xuefa", {}))

``apply_k8s`` lays the platform's settings (authenticator, roles and groups, templates,
managed services, learners' landing page: ``hub_config.config.apply_config``) over the chart's,
without touching what the chart owns, and adds what only exists on Kubernetes: KubeSpawner
profiles per role and a uid per learner so the shared exchange volume keeps nbgrader's unix
permission model (every pod would otherwise be uid 1000 and could read every submission).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from traitlets.config import Config

from grading.host.datadir import DataDir
from hub_config.config import apply_config
from hub_config.services import ensure_api_token

SPAWNER = "kubespawner.KubeSpawner"

# Settings the chart computes from the Helm values; the one-machine defaults must not win.
CHART_OWNED = {
    "JupyterHub": {"spawner_class", "db_url", "bind_url", "hub_bind_url", "hub_connect_url",
                   "hub_ip", "hub_port", "ip", "port", "base_url", "cookie_secret_file", "pid_file",
                   "proxy_class", "cleanup_servers", "cleanup_proxy", "last_activity_interval",
                   "init_spawners_timeout", "allow_named_servers", "data_files_path",
                   # the local start queue (XuefaSpawner) sets 0; KubeSpawner has no queue, so
                   # the chart's limit stays what protects the cluster's API server
                   "concurrent_spawn_limit"},
    "ConfigurableHTTPProxy": "*",
    "KubeSpawner": "*",
    "LocalProcessSpawner": "*",
    "SystemUserSpawner": "*",
    "SimpleLocalProcessSpawner": "*",
}
# Spawner options the chart sets from singleuser.* values (image, storage, resources, ...)
CHART_OWNED_SPAWNER = {"cmd", "args", "mem_limit", "mem_guarantee", "cpu_limit", "cpu_guarantee",
                       "start_timeout", "http_timeout", "notebook_dir", "environment"}
MERGED_LISTS = {("JupyterHub", "services"), ("JupyterHub", "load_roles")}

ROLE_ORDER = ("admin", "trainer", "learner")  # a person in several role groups gets the highest

DEFAULT_PROFILES = {
    "learner": [{"display_name": "学员学习环境", "slug": "learner", "default": True,
                 "kubespawner_override": {"mem_limit": "1G", "cpu_limit": 1.0}}],
    "trainer": [{"display_name": "讲师课程制作环境", "slug": "trainer", "default": True,
                 "kubespawner_override": {"mem_limit": "2G", "cpu_limit": 2.0}}],
    "admin": [{"display_name": "管理员环境", "slug": "admin", "default": True,
               "kubespawner_override": {"mem_limit": "2G", "cpu_limit": 2.0}}],
}


def platform_config(datadir: DataDir) -> Config:
    """The one-machine platform config (``hub_config.config.apply_config``) as a fresh Config."""
    cfg = Config()
    # the chart runs its own culler (values `cull`); a second one would race it
    off = {s for s in os.environ.get("XUEFA_DISABLE_SERVICES", "").split(",") if s}
    os.environ["XUEFA_DISABLE_SERVICES"] = ",".join(sorted(off | {"idle-culler"}))
    apply_config(cfg, datadir)
    return cfg


def prepare_run(datadir: DataDir, hub_port: int) -> None:
    """The hub pod's counterpart of ``xuefa up``'s start-up writes (there is no ``xuefa up`` on
    Kubernetes: the chart starts the hub): a fresh ``xuefa-cli`` token, and the hub URL for
    ``xuefa roster import`` in the hub pod, which talks to the hub directly, not via the proxy
    pod. The zh-CN JupyterLab override is baked into the image (k8s/README.md)."""
    datadir.hub.mkdir(parents=True, exist_ok=True)
    ensure_api_token(datadir)
    datadir.hub_url_file.write_text(f"http://127.0.0.1:{hub_port}/hub/api")


def _owned(section: str, key: str) -> bool:
    owned = CHART_OWNED.get(section)
    if owned == "*" or (owned and key in owned):
        return True
    return section == "Spawner" and key in CHART_OWNED_SPAWNER


def merge_platform(c: Config, platform: Config) -> None:
    """Copy ``platform`` into ``c``: chart-owned keys stay, services/roles are merged by name."""
    for section, traits in platform.items():
        if not isinstance(traits, Config):
            continue
        for key, value in traits.items():
            if (section, key) in MERGED_LISTS:
                existing = list(c[section].get(key, []))
                names = {item.get("name") for item in existing}
                c[section][key] = existing + [v for v in value if v.get("name") not in names]
            elif not _owned(section, key):
                c[section][key] = value


def role_of(group_names: set[str]) -> str:
    for role in ROLE_ORDER:
        if f"role-{role}" in group_names:
            return role
    return "learner"


def profiles_for(values: dict[str, Any]):
    """A KubeSpawner ``profile_list`` callable: each person sees only their role's profiles."""
    profiles = {**DEFAULT_PROFILES, **(values.get("profiles") or {})}

    def profile_list(spawner) -> list[dict]:
        groups = {g.name for g in getattr(spawner.user, "groups", [])}
        return [_with_extra_mounts(p) for p in profiles[role_of(groups)]]

    return profile_list


def _with_extra_mounts(profile: dict) -> dict:
    """``extra_volume_mounts`` (ours) become a callable that appends to the chart's mounts:
    KubeSpawner merges dict overrides but replaces lists."""
    profile = dict(profile)
    override = dict(profile.get("kubespawner_override") or {})
    extra = override.pop("extra_volume_mounts", None)
    if extra:
        override["volume_mounts"] = lambda spawner: [*spawner.volume_mounts, *extra]
    profile["kubespawner_override"] = override
    return profile


def uid_for(base: int):
    """A KubeSpawner ``uid`` callable: hub user id -> a unix uid of its own on shared volumes."""

    def uid(spawner) -> int:
        return base + int(spawner.user.id)

    return uid


def publish_services(c: Config, host: str, ports: dict[str, int]) -> None:
    """Managed services run in the hub pod; the proxy and user pods reach them through the hub's
    Kubernetes Service (``hub.service.extraPorts``), so each gets a fixed port and that host.

    Only services given a port in ``servicePorts`` are published: any other (a course's
    formgrader) keeps its loopback URL, because the hub Service does not expose its random port
    and a Jupyter server binds the host named in its URL (``hub`` is not an address of the hub
    pod, so it would fail to start and the hub with it)."""
    for service in c.JupyterHub.get("services", []):
        url = service.get("url", "")
        if (not service.get("command") or "://127.0.0.1:" not in url
                or service.get("name") not in ports):
            continue
        old = url.rsplit(":", 1)[1].strip("/")
        new = str(ports[service["name"]])
        service["url"] = f"http://{host}:{new}"
        service["command"] = [new if arg == old else arg.replace(f"={old}", f"={new}")
                              for arg in service["command"]]
        env = dict(service.get("environment", {}))
        env.setdefault("XUEFA_SERVICE_BIND", "0.0.0.0")  # listen beyond the pod's loopback
        service["environment"] = env


def apply_k8s(c: Config, values: dict[str, Any] | None = None, *, prepare: bool = True) -> Config:
    """Apply the platform to the chart-built config ``c``; ``values`` is ``custom.xuefa``.

    ``prepare`` first writes this run's token and hub URL (:func:`prepare_run`): the chart's
    config file is the hub pod's only start-up hook. ``prepare=False`` only computes."""
    values = values or {}
    data_dir = values.get("dataDir", "/srv/xuefa")
    os.environ.setdefault("XUEFA_DATA_DIR", data_dir)  # `kubectl exec ... xuefa` finds it too
    datadir = DataDir(Path(data_dir))
    if prepare:
        prepare_run(datadir, int(values.get("hubPort", 8081)))
    merge_platform(c, platform_config(datadir))

    c.JupyterHub.spawner_class = SPAWNER
    c.KubeSpawner.profile_list = profiles_for(values)
    uid_base = values.get("uidBase")
    if uid_base is not None:
        c.KubeSpawner.uid = uid_for(int(uid_base))
        # the exchange is group "users" with the sticky bit, like /tmp, as on one machine
        c.KubeSpawner.fs_gid = int(values.get("fsGid", 100))
        c.KubeSpawner.supplemental_gids = [int(values.get("fsGid", 100))]
    c.KubeSpawner.environment = {
        **dict(c.KubeSpawner.get("environment", {}) or {}),
        "XUEFA_DATA_DIR": data_dir,
    }

    publish_services(c, values.get("serviceHost", "hub"), values.get("servicePorts") or {})
    return c
