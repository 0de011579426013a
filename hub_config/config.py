"""All JupyterHub settings of a one-machine xuefa, applied to a traitlets config ``c``.

Like TLJH's ``configurer``: :func:`apply_config` only *sets* values (one ``configure_<area>`` per
concern), so ``tests/hub_config/test_config.py`` can apply it to an empty ``Config()`` and check
them without starting a hub. It reads its environment:

``XUEFA_DATA_DIR``   the platform data dir (see :mod:`grading.host.datadir`)
``XUEFA_IP``         address the public proxy listens on (default ``127.0.0.1``)
``XUEFA_PORT``       public port (default ``8000``)
``XUEFA_DISABLE_SERVICES``  comma-separated managed services to leave out
``XUEFA_SSL_CERT``, ``XUEFA_SSL_KEY``  PEM certificate (chain) and key: the proxy serves HTTPS
``XUEFA_LOG_FILES``, ``XUEFA_LOG_MAX_MB``, ``XUEFA_LOG_BACKUPS``  log files (:mod:`hub_config.logpipe`)
``XUEFA_MAX_CONCURRENT_STARTS``  servers started at once; more wait in the start queue

It writes nothing: what belongs to "this hub run" (a fresh ``xuefa-cli`` API token, the hub
URL for the CLI, the zh-CN JupyterLab settings override) is written by ``xuefa up`` before the
hub starts (:func:`hub_config.commands.up.prepare_run`); the token is only read here.

:func:`load_operator_config` runs the operator's own ``DATA/jupyterhub_config.d/*.py`` after
the packaged settings (``hub_config/jupyterhub_config.py`` calls both).
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

from grading.host.datadir import DataDir
from grading.records import people
from hub_config import logpipe
from hub_config import roles as xroles
from hub_config import services as xservices
from hub_config.home.page import PAGE_PATH

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
# 我的学习, served by the learner's own server without a kernel (hub_config.home.server_ext);
# percent-encoded: the server's redirect to default_url goes into a Location header
LEARNER_DEFAULT_URL = "/" + quote(PAGE_PATH)
TRAINER_DEFAULT_URL = "/lab"
DEFAULT_IP = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_STARTS_VAR = "XUEFA_MAX_CONCURRENT_STARTS"

log = logging.getLogger("xuefa.config")


def tls_files() -> tuple[str, str] | None:
    """(certificate, key) from ``XUEFA_SSL_CERT``/``XUEFA_SSL_KEY``, or None for plain HTTP
    (e.g. behind a reverse proxy that terminates TLS). One without the other is an error: a
    platform meant to be private must not quietly come up in the clear."""
    cert = os.environ.get("XUEFA_SSL_CERT", "").strip()
    key = os.environ.get("XUEFA_SSL_KEY", "").strip()
    if not cert and not key:
        return None
    if not (cert and key):
        raise ValueError("XUEFA_SSL_CERT 与 XUEFA_SSL_KEY 须同时设置（证书和私钥）")
    return cert, key


def configure_network(c) -> None:
    ip = os.environ.get("XUEFA_IP", DEFAULT_IP)
    port = int(os.environ.get("XUEFA_PORT", DEFAULT_PORT))
    tls = tls_files()
    c.JupyterHub.bind_url = f"{'https' if tls else 'http'}://{ip}:{port}"
    if tls:
        # JupyterHub hands both to configurable-http-proxy (--ssl-cert/--ssl-key): the public
        # side is HTTPS, the hub and services stay on loopback HTTP behind it
        c.JupyterHub.ssl_cert, c.JupyterHub.ssl_key = tls
    # internal ports are picked free at each start: several platforms (and test hubs) can run
    # side by side on one machine
    c.JupyterHub.hub_ip = "127.0.0.1"
    c.JupyterHub.hub_port = int(os.environ.get("XUEFA_HUB_PORT") or xservices.free_port())
    c.ConfigurableHTTPProxy.api_url = (
        f"http://127.0.0.1:{int(os.environ.get('XUEFA_PROXY_API_PORT') or xservices.free_port())}"
    )
    chp = Path(sys.executable).parent / "configurable-http-proxy"
    c.ConfigurableHTTPProxy.command = [str(chp) if chp.exists()
                                       else shutil.which("configurable-http-proxy")
                                       or "configurable-http-proxy"]
    # slow_spawn_timeout=0: a server that exits early is reported through the progress API
    # instead of JupyterHub 6.1.1's InvalidStateError 500 (see DESIGN.md)
    c.JupyterHub.tornado_settings = {"slow_spawn_timeout": 0}


def configure_logs(c, datadir: DataDir) -> None:
    """The proxy's output in ``DATA/logs/proxy.log`` (the services' are wired in
    :func:`hub_config.services.log_to_file`, the hub's by ``xuefa up``)."""
    c.ConfigurableHTTPProxy.command = logpipe.wrap(datadir.logs / "proxy.log",
                                                   list(c.ConfigurableHTTPProxy.command))


def configure_state(c, datadir: DataDir) -> None:
    c.JupyterHub.db_url = datadir.hub_db_url
    c.JupyterHub.cookie_secret_file = str(datadir.cookie_secret)
    c.JupyterHub.pid_file = str(datadir.hub_pid_file)
    c.JupyterHub.cleanup_servers = True
    c.JupyterHub.cleanup_proxy = True


def configure_auth(c, datadir: DataDir) -> None:
    c.JupyterHub.authenticator_class = "hub_config.auth.XuefaAuthenticator"
    c.XuefaAuthenticator.data_dir = str(datadir.root)
    c.XuefaAuthenticator.records_db_url = datadir.records_db_url


def configure_spawner(c, datadir: DataDir) -> None:
    c.JupyterHub.spawner_class = "hub_config.spawner.XuefaSpawner"
    c.XuefaSpawner.data_dir = str(datadir.root)
    c.Spawner.cmd = [str(Path(sys.executable).parent / "jupyterhub-singleuser")]
    c.Spawner.disable_user_config = True
    c.Spawner.default_url = TRAINER_DEFAULT_URL
    # generous: when a learning month's last morning overloads the CPUs a server that starts
    # slowly is better than one given up on (a 50-learner burst on 2 cores took up to 85 s)
    c.Spawner.start_timeout = 240
    c.Spawner.http_timeout = 180
    # a burst waits in XuefaSpawner's start queue (place and estimate on the spawn page, the
    # wait not counted in start_timeout) instead of JupyterHub's default of refusing the
    # 101st pending spawn with a 429 "try again later": the queue bounds the real starts
    c.JupyterHub.concurrent_spawn_limit = 0
    if os.environ.get(MAX_STARTS_VAR, "").strip():
        c.XuefaSpawner.max_concurrent_starts = max(1, int(os.environ[MAX_STARTS_VAR]))
    c.Spawner.group_overrides = {
        "10-learners-land-on-my-learning": {
            "groups": [xroles.LEARNER_GROUP],
            "spawner_override": {"default_url": LEARNER_DEFAULT_URL},
        },
    }


def configure_templates(c) -> None:
    c.JupyterHub.template_paths = [str(TEMPLATES)]
    c.JupyterHub.template_vars = {"platform_name": "学法 · 法治学习平台"}


def configure_services(c, datadir: DataDir, api_token: str | None) -> list[str]:
    specs, extra_roles = xservices.services(datadir, api_token)
    c.JupyterHub.services = specs
    names = [s["name"] for s in specs]
    c.JupyterHub.load_roles = xroles.load_roles(names) + extra_roles
    c.Spawner.server_token_scopes = xroles.server_token_scopes(names)
    return names


def hub_groups(datadir: DataDir) -> dict:
    """``c.JupyterHub.load_groups`` from the records DB (empty when there is no roster yet)."""
    try:
        groups = people.hub_groups(datadir.records_db_url)
    except Exception as exc:  # noqa: BLE001 - no DB yet: the hub still starts
        log.warning("no groups loaded from the records DB: %s", exc)
        return {}
    try:
        props = people.group_properties(datadir.records_db_url)
    except Exception:  # noqa: BLE001 - properties are a nicety (readable unit paths)
        props = {}
    loaded = {}
    for name, members in groups.items():
        entry = dict(members) if isinstance(members, dict) else {"users": sorted(members)}
        if name in props and "properties" not in entry:
            entry["properties"] = props[name]
        loaded[name] = entry
    return loaded


def configure_groups(c, datadir: DataDir) -> None:
    c.JupyterHub.load_groups = hub_groups(datadir)


def apply_config(c, datadir: DataDir | None = None) -> DataDir:
    """Set every xuefa JupyterHub setting on ``c``; returns the data dir used. Writes nothing."""
    datadir = datadir or DataDir.from_env()
    configure_network(c)
    configure_logs(c, datadir)
    configure_state(c, datadir)
    configure_auth(c, datadir)
    configure_spawner(c, datadir)
    configure_templates(c)
    # no token file (a bare `jupyterhub -f`): the hub runs without the CLI's service
    configure_services(c, datadir, xservices.read_api_token(datadir))
    configure_groups(c, datadir)
    return datadir


def operator_config_files(datadir: DataDir) -> list[Path]:
    """``DATA/jupyterhub_config.d/*.py`` in name order, skipping (with a warning) any file the
    hub's own user does not own or that others may write: its code runs as root."""
    if not datadir.config_d.is_dir():
        return []
    files = []
    for path in sorted(datadir.config_d.glob("*.py")):
        st = path.stat()
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            log.warning("skipping %s: it must belong to uid %d and be writable by it alone",
                        path, os.geteuid())
            continue
        files.append(path)
    return files


def load_operator_config(c, datadir: DataDir) -> list[Path]:
    """Run the operator's ``jupyterhub_config.d/*.py`` on the same ``c`` (like Zero to
    JupyterHub's ``hub.extraConfig``), so they can change or extend the packaged settings,
    e.g. switch to single sign-on. An error in one stops the hub: better than a half-configured
    login. Returns the files run."""
    files = operator_config_files(datadir)
    for path in files:
        code = compile(path.read_text(encoding="utf-8"), str(path), "exec")
        exec(code, {"c": c, "get_config": lambda: c, "__file__": str(path),  # noqa: S102
                    "__name__": "jupyterhub_config_d"})
        log.info("loaded %s", path)
    return files
