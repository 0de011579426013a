"""Hub-managed services of xuefa and the internal admin API token.

Every area lands its service independently: a service is registered only when its module is
importable (``importlib.util.find_spec``). A module may define ``service_spec(datadir, port=...)``
returning its ``c.JupyterHub.services`` entry (and ``service_role()`` for an extra role);
otherwise the entry is ``python -m <module>`` with ``XUEFA_DATA_DIR`` in its environment.

=================  ==============================  ======================================
service            module                          who may use it
=================  ==============================  ======================================
``idle-culler``    ``jupyterhub_idle_culler``      the hub (stops idle servers)
``records``        ``hub_config.records_service``  every person, from their own kernels
``grading``        ``grading.service``             trainers and admins
``dashboards``     ``hub_config.dashboards_service``  admins only
``formgrader-<c>`` ``hub_config.formgrader_service``  trainers and admins (courses with essays)
``xuefa-cli``      (no process: an API token)      ``xuefa roster import`` on this machine
=================  ==============================  ======================================

``XUEFA_DISABLE_SERVICES=dashboards,grading`` leaves services out (tests, small machines;
``formgrader`` leaves out every course's formgrader);
``XUEFA_DASHBOARDS_PREHEAT=0`` runs the dashboards without warm kernels.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import secrets
import socket
import sys
from pathlib import Path

from grading.datadir import DataDir

IDLE_TIMEOUT = 3600
CLI_SERVICE = "xuefa-cli"
API_TOKEN_FILE = "api_token"

# name -> (module, needs an URL of its own)
MANAGED = {
    "records": ("hub_config.records_service", True),
    "grading": ("grading.service", False),
    "dashboards": ("hub_config.dashboards_service", True),
}
# one service per course with essays, named formgrader-<course_id>
FORMGRADER_MODULE = "hub_config.formgrader_service"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def disabled() -> set[str]:
    return {s.strip() for s in os.environ.get("XUEFA_DISABLE_SERVICES", "").split(",") if s.strip()}


def api_token_path(datadir: DataDir) -> Path:
    return datadir.hub / API_TOKEN_FILE


def ensure_api_token(datadir: DataDir) -> str:
    """A fresh random admin API token for this hub run, readable by root (the CLI) only.

    Written at every start, so a token copied from an old run stops working."""
    datadir.hub.mkdir(parents=True, exist_ok=True)
    path = api_token_path(datadir)
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
    path = api_token_path(datadir)
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


def managed_service(name: str, module: str, needs_url: bool, datadir: DataDir) -> tuple[dict, list]:
    """The services entry (and extra roles) of one managed service."""
    try:
        mod = importlib.import_module(module)
    except Exception:  # noqa: BLE001 - a broken module must not stop the hub; run it anyway
        mod = None
    roles = []
    if mod is not None and hasattr(mod, "service_spec"):
        kwargs = {"port": free_port()} if needs_url else {}
        spec = dict(mod.service_spec(datadir, **kwargs))
        if hasattr(mod, "service_role"):
            roles.append(mod.service_role())
    else:
        spec = {"name": name, "command": [sys.executable, "-m", module]}
        if needs_url:
            spec["url"] = f"http://127.0.0.1:{free_port()}"
    if name == "dashboards" and os.environ.get("XUEFA_DASHBOARDS_PREHEAT") == "0":
        # warm kernels cost a CPU each; tests and small machines can do without
        spec["command"] = [*spec["command"], "--no-preheat"]
    spec["environment"] = service_environment(spec, datadir)
    spec["name"] = name
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
    if "formgrader" in off or not importable(FORMGRADER_MODULE):
        return [], []
    mod = importlib.import_module(FORMGRADER_MODULE)
    specs = [s for s in mod.service_specs(datadir, free_port) if s["name"] not in off]
    for spec in specs:
        spec["environment"] = service_environment(spec, datadir)
    return specs, ([mod.service_role([s["name"] for s in specs])] if specs else [])


def services(datadir: DataDir, api_token: str | None) -> tuple[list[dict], list[dict]]:
    """(``c.JupyterHub.services``, extra roles) for the importable, enabled services."""
    off = disabled()
    specs, roles = [], []
    if "idle-culler" not in off and importable("jupyterhub_idle_culler"):
        spec, role = idle_culler()
        specs.append(spec)
        roles.append(role)
    for name, (module, needs_url) in MANAGED.items():
        if name in off or not importable(module):
            continue
        spec, extra = managed_service(name, module, needs_url, datadir)
        specs.append(spec)
        roles.extend(extra)
    extra_specs, extra_roles = formgraders(datadir, off)
    specs.extend(extra_specs)
    roles.extend(extra_roles)
    if api_token:
        specs.append({"name": CLI_SERVICE, "api_token": api_token,
                      "display": False, "info": {"description": "xuefa command line"}})
    return specs, roles
