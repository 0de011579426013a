"""Hub-managed services of xuefa and the internal admin API token.

Every service JupyterHub starts is named here, once (:data:`MANAGED`). A service whose entry
needs more than ``python -m <module>`` with ``XUEFA_DATA_DIR`` in its environment has a
``service_spec`` hook in :data:`SPEC_HOOKS` (and an extra role).

=================  ==============================  ======================================
service            module                          who may use it
=================  ==============================  ======================================
``idle-culler``    ``jupyterhub_idle_culler``      the hub (stops idle servers)
``records``        ``hub_config.records_service``  every person, from their own kernels
``grading``        ``grading.grader.service``             trainers and admins
``dashboards``     ``hub_config.dashboards_service``  admins only
``formgrader-<c>`` ``hub_config.formgrader_service``  trainers and admins (courses with essays)
``xuefa-cli``      (no process: an API token)      ``xuefa roster import`` on this machine
=================  ==============================  ======================================

``XUEFA_DISABLE_SERVICES=dashboards,grading`` leaves services out (tests, small machines;
``formgrader`` leaves out every course's formgrader);
``XUEFA_DASHBOARDS_PREHEAT=0`` runs the dashboards without warm kernels.
Each service's output goes to ``DATA/logs/<name>.log`` (:func:`log_to_file`).
"""

from __future__ import annotations

import os
import secrets
import socket
import sys

from grading.host.datadir import DataDir
from hub_config import dashboards_service, formgrader_service, logpipe

IDLE_TIMEOUT = 3600
CLI_SERVICE = "xuefa-cli"

# name -> (module run with ``python -m``, needs an URL of its own)
MANAGED = {
    "records": ("hub_config.records_service", True),
    "grading": ("grading.grader.service", False),
    "dashboards": ("hub_config.dashboards_service", True),
}
# services whose entry is built by their module: name -> (service_spec, service_role)
SPEC_HOOKS = {
    "dashboards": (dashboards_service.service_spec, dashboards_service.service_role),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def disabled() -> set[str]:
    return {s.strip() for s in os.environ.get("XUEFA_DISABLE_SERVICES", "").split(",") if s.strip()}


def ensure_api_token(datadir: DataDir) -> str:
    """A fresh random admin API token for this hub run, readable by root (the CLI) only.

    Written by ``xuefa up`` before every start (the hub's config only reads it), so a token
    copied from an old run stops working."""
    datadir.hub.mkdir(parents=True, exist_ok=True)
    path = datadir.api_token_file
    token = secrets.token_hex(32)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return token


def read_api_token(datadir: DataDir) -> str | None:
    """The running hub's ``xuefa-cli`` token (None when no hub was started on this data dir)."""
    path = datadir.api_token_file
    return path.read_text().strip() if path.exists() else None


def idle_culler(timeout: int = IDLE_TIMEOUT) -> tuple[dict, dict]:
    spec = {"name": "idle-culler",
            "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={timeout}"]}
    if os.environ.get("XUEFA_RUN_ID"):
        spec["environment"] = {"XUEFA_RUN_ID": os.environ["XUEFA_RUN_ID"]}
    role = {"name": "idle-culler", "description": "Stop idle servers",
            "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
            "services": ["idle-culler"]}
    return spec, role


MENU_TITLES = {"dashboards": "学习情况统计"}


def managed_service(name: str, module: str, needs_url: bool, datadir: DataDir) -> tuple[dict, list]:
    """The services entry (and extra roles) of one managed service."""
    roles = []
    if name in SPEC_HOOKS:
        spec_hook, role_hook = SPEC_HOOKS[name]
        kwargs = {"port": free_port()} if needs_url else {}
        spec = dict(spec_hook(datadir, **kwargs))
        roles.append(role_hook())
    else:
        spec = {"name": name, "command": [sys.executable, "-m", module]}
        if needs_url:
            spec["url"] = f"http://127.0.0.1:{free_port()}"
    if name == "dashboards" and os.environ.get("XUEFA_DASHBOARDS_PREHEAT") == "0":
        # warm kernels cost a CPU each; tests and small machines can do without
        spec["command"] = [*spec["command"], "--no-preheat"]
    spec["environment"] = service_environment(spec, datadir)
    spec["name"] = name
    # the hub's 服务 menu speaks Chinese and lists only pages people open in a browser (a
    # learner's menu listed the bare name "records", an API their kernels call)
    if name in MENU_TITLES:
        spec.setdefault("info", {})["title"] = MENU_TITLES[name]
    else:
        spec["display"] = False
    return spec, roles


# the hub's own environment a service needs (the hub does not pass its environment on)
PASSED_ENV = ("XUEFA_RECORDS_DB_URL", "XUEFA_GRADEBOOK_DB_URL", "XUEFA_RUN_ID",
              "XUEFA_MANUAL_SYNC_INTERVAL", "XUEFA_SERVICE_BIND")


def service_environment(spec: dict, datadir: DataDir) -> dict:
    env = dict(spec.get("environment") or {})
    env["XUEFA_DATA_DIR"] = str(datadir.root)
    for var in PASSED_ENV:
        if os.environ.get(var):
            env[var] = os.environ[var]
    return env


def formgraders(datadir: DataDir, off: set[str]) -> tuple[list[dict], list[dict]]:
    """One ``formgrader-<course_id>`` per course with essays (:mod:`hub_config.formgrader_service`)."""
    if "formgrader" in off:
        return [], []
    specs = [s for s in formgrader_service.service_specs(datadir, free_port) if s["name"] not in off]
    for spec in specs:
        spec["environment"] = service_environment(spec, datadir)
    return specs, formgrader_service.service_roles(datadir, [s["name"] for s in specs])


def log_to_file(spec: dict, datadir: DataDir) -> dict:
    """Run the service's command with its output in ``DATA/logs/<name>.log``, rotated
    (:mod:`hub_config.logpipe`; ``XUEFA_LOG_FILES=0`` leaves the command as it is)."""
    if spec.get("command"):
        spec["command"] = logpipe.wrap(datadir.logs / f"{spec['name']}.log", spec["command"])
    return spec


def services(datadir: DataDir, api_token: str | None) -> tuple[list[dict], list[dict]]:
    """(``c.JupyterHub.services``, extra roles) for the enabled services."""
    off = disabled()
    specs, roles = [], []
    if "idle-culler" not in off:
        spec, role = idle_culler()
        specs.append(spec)
        roles.append(role)
    for name, (module, needs_url) in MANAGED.items():
        if name in off:
            continue
        spec, extra = managed_service(name, module, needs_url, datadir)
        specs.append(spec)
        roles.extend(extra)
    extra_specs, extra_roles = formgraders(datadir, off)
    specs.extend(extra_specs)
    roles.extend(extra_roles)
    for spec in specs:
        log_to_file(spec, datadir)
    if api_token:
        specs.append({"name": CLI_SERVICE, "api_token": api_token,
                      "display": False, "info": {"description": "xuefa command line"}})
    return specs, roles
