"""The ``dashboards`` hub-managed service: the administrators' completion dashboards (Voila).

Standalone ``voila`` over a directory of dashboard notebooks, with preheated kernels
(``--preheat_kernel=True --pool_size=N``): a page opens without waiting for a kernel to start and
pandas/plotly to import. The notebooks call ``voila.utils.wait_for_request()`` after their imports
so the queries run when an administrator asks, not when the kernel was warmed.

Who may look: the hub does OAuth for us. Voila's identity provider is replaced by JupyterHub's
(``HubIdentityProvider``), which admits only users holding ``access:services!service=dashboards``
(granted to the ``role-admin`` and ``role-trainer`` groups by :func:`service_role`) and answers
403 to anyone else. Trainers get one page, 题目分析 (:data:`TRAINER_PAGE`), and only for the
courses whose ``trainers`` list names them: :meth:`HubIdentityProvider.get_user` refuses (403)
every other page, the notebook listing and a ``?course=`` they do not teach before a kernel is
involved, and hands the page who is asking in the ``X-Xuefa-Viewer`` header it sets itself
(a client's own header of that name is dropped first).

Unit administrators (issue 16, :mod:`grading.records.scopes`): for an administrator the header
also carries ``scope``, the unit id of their 管理范围 (None: city-wide; -1: not an active
administrator in the records DB, which covers nobody), and every notebook passes it to each
query (:mod:`grading.reports.queries` ``scope=``), drill-downs and the Excel buttons included.
A ``?unit=`` outside the scope is refused here with 403 before any kernel runs.
Viewers get no Jupyter server: standalone Voila has no contents or terminals API, and it already
refuses every kernel message except comm traffic (no ``execute_request`` from the browser).

Read-only data: set ``XUEFA_DASHBOARDS_DB_URL`` (e.g. a PostgreSQL role granted only SELECT)
and the notebooks use it instead of the read-write records URL. On embedded SQLite the service
still runs as the hub's user: WAL readers need write access to the ``-shm`` file.

The hub helper's ``hub_config/services.py`` picks up :func:`service_spec` and :func:`service_role`.
Run by hand (no hub, loopback only, no auth) for development::

    python -m hub_config.dashboards_service --port 8867
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import parse_qs, unquote

from jupyterhub.singleuser.extension import JupyterHubIdentityProvider
from jupyterhub.utils import url_path_join
from traitlets import Bool, Integer, Unicode, default
from tornado.web import HTTPError
from traitlets.config import Configurable

from grading.host.datadir import DataDir
from grading.host.perms import private_umask

NAME = "dashboards"
ADMIN_GROUP = "role-admin"
DEFAULT_PORT = 8867
HERE = Path(__file__).parent
NOTEBOOKS = HERE / "dashboards"
PLOTLY_JS = "plotly.min.js"
TRAINER_GROUP = "role-trainer"
# the one page trainers may open (for the courses they teach); admins may open every page
TRAINER_PAGE = "course_items.ipynb"
# who is asking, set by HubIdentityProvider on every authenticated request and passed to the
# page's kernel by Voila (http_header_envs) as HTTP_X_XUEFA_VIEWER
VIEWER_HEADER = "X-Xuefa-Viewer"
VIEWER_ENV = "HTTP_X_XUEFA_VIEWER"
# Optional URL of the records DB for the dashboards alone, e.g. a PostgreSQL role that may only
# SELECT; the notebooks prefer it to the data dir's records URL.
DB_URL_ENV = "XUEFA_DASHBOARDS_DB_URL"
# Address Voila listens on: loopback on one machine; 0.0.0.0 on Kubernetes, where the proxy pod
# reaches the hub pod's services through the hub's Service (hub_config/k8s_config.py)
BIND_ENV = "XUEFA_SERVICE_BIND"
# As strict as Voila 0.5 lets the pages work (checked in Chromium: the widgets and plotly charts
# of every page render with no violation reported but the one below): everything from this service only (no CDN, no other origin, no plugins, no
# <base> or form posts elsewhere, no framing by other sites), no eval. Scripts still need
# 'unsafe-inline': Voila's page bootstrap and the sortable tables are inline <script>s and Voila
# has no nonces; styles are inline throughout. So what keeps injected markup from running is
# escaping (hub_config.dashboards_setup, widgets.charts); this header limits what such markup
# could load or send. Blocked on purpose: the widget icons' font-awesome stylesheet from a CDN.
CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self' 'unsafe-inline'",
    "style-src 'self' 'unsafe-inline'",
    "img-src 'self' data: blob:",
    "font-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'self'",
])


class DashboardsService(Configurable):
    """How the hub runs the dashboards (values end up on Voila's command line)."""

    port = Integer(
        int(os.environ.get("XUEFA_DASHBOARDS_PORT", DEFAULT_PORT)),
        help="Port Voila listens on; the hub proxies /services/dashboards/ to it.",
    ).tag(config=True)
    ip = Unicode(help="Address Voila listens on (default: $XUEFA_SERVICE_BIND, else 127.0.0.1).").tag(config=True)
    preheat = Bool(True, help="Keep kernels warm with the dashboards imported (Voila preheat).").tag(config=True)
    pool_size = Integer(1, help="Warm kernels kept per dashboard notebook.").tag(config=True)
    notebooks = Unicode(str(NOTEBOOKS), help="Directory of the dashboard notebooks shipped with xuefa.").tag(
        config=True
    )

    @default("ip")
    def _ip_default(self):
        return os.environ.get(BIND_ENV) or "127.0.0.1"

    def runtime_dir(self, datadir: DataDir) -> Path:
        return datadir.run / NAME

    def prepare(self, datadir: DataDir) -> Path:
        """Copy the notebooks and plotly.js into the run dir Voila serves (nothing else is there,
        so the files route can serve nothing but plotly.js)."""
        import plotly

        dest = self.runtime_dir(datadir)
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        for nb in sorted(Path(self.notebooks).glob("*.ipynb")):
            shutil.copy2(nb, dest / nb.name)
        shutil.copy2(Path(plotly.__file__).parent / "package_data" / PLOTLY_JS, dest / PLOTLY_JS)
        return dest

    def voila_argv(self, root: Path, *, base_url: str = "/", hub: bool = True) -> list[str]:
        argv = [
            str(root),
            "--no-browser",
            f"--Voila.ip={self.ip}",
            f"--Voila.port={self.port}",
            f"--Voila.base_url={base_url}",
            "--Voila.tornado_settings=" + repr({"headers": {"Content-Security-Policy": CSP}}),
            "--VoilaConfiguration.file_allowlist=['plotly\\.min\\.js']",
            "--VoilaConfiguration.show_tracebacks=False",
            # the viewer header only behind the hub, where HubIdentityProvider sets it itself
            f"--VoilaConfiguration.http_header_envs={[VIEWER_HEADER] if hub else []!r}",
            # front-end: widgets and plotly only (nbgrader's lab extension has no business here);
            # Voila's own widgets-manager8 provides the widget registry: without it every widget
            # (the 生成 Excel 报表 button) shows as its Python repr
            "--VoilaConfiguration.extension_allowlist=['@jupyter-widgets/jupyterlab-manager', "
            "'@voila-dashboards/widgets-manager8', 'jupyterlab-plotly']",
        ]
        if self.preheat:
            argv += ["--preheat_kernel=True", f"--pool_size={self.pool_size}"]
        if hub:
            argv.append(f"--Voila.identity_provider_class={__name__}.HubIdentityProvider")
        else:
            argv.append("--Voila.token=")
        return argv


class HubIdentityProvider(JupyterHubIdentityProvider):
    """JupyterHub OAuth for standalone Voila.

    Voila mounts an identity provider's handlers as given, without its base URL, while the hub
    sends the OAuth callback to ``{service prefix}oauth_callback``: prefix them here."""

    def get_handlers(self):
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
        return [(url_path_join(prefix, path), *rest) for path, *rest in super().get_handlers()]

    def _refuse(self, handler, name: str, refusal: str) -> None:
        """As the parent does for users without the scope: no user, and the login redirect of
        @web.authenticated (every page and listing has it) becomes a 403 with ``refusal``."""
        self.log.warning("refusing %s to %s: %s", handler.request.path, name, refusal)

        def refuse(*args, **kwargs):
            raise HTTPError(403, refusal)

        handler.redirect = refuse
        handler._jupyterhub_user = None
        return None

    async def get_user(self, handler):
        if getattr(handler, "_xuefa_checked", False):
            return await super().get_user(handler)
        handler._xuefa_checked = True
        # only this method may say who is asking: never a header the browser sent
        if VIEWER_HEADER in handler.request.headers:
            del handler.request.headers[VIEWER_HEADER]
        user = await super().get_user(handler)
        if user is None:
            return None
        model = user.hub_user
        admin = bool(model.get("admin")) or ADMIN_GROUP in (model.get("groups") or [])
        scope = None
        if admin:
            scope, refusal = admin_scope_refusal(handler.request.query, model["name"])
            if refusal:
                return self._refuse(handler, model["name"], refusal)
        if not admin:
            prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
            if handler.request.path in (prefix, prefix.rstrip("/")):
                # the hub's services menu links here: a trainer's way in is their page, not
                # the administrators' notebook listing (finishing in prepare skips the handler)
                handler.redirect(url_path_join(prefix, "voila/render", TRAINER_PAGE))
                return user
            refusal = trainer_refusal(handler.request.path, handler.request.query, model["name"],
                                      prefix=prefix)
            if refusal:
                return self._refuse(handler, model["name"], refusal)
        handler.request.headers[VIEWER_HEADER] = json.dumps(
            {"name": model["name"], "admin": admin, "scope": scope})
        return user


def admin_scope_refusal(query: str, username: str, *, url: str | None = None) -> tuple[int | None, str | None]:
    """(the administrator's scope unit id, why ``?unit=`` is refused or None). The scope is
    -1 for someone in the admin group who is not an active 管理员 in the records DB."""
    from grading.records import scopes

    records = url or os.environ.get(DB_URL_ENV) or DataDir.from_env().records_db_url
    try:
        scope = scopes.scope_of(records, username)
    except Exception:  # noqa: BLE001 - no records DB answer: show nothing rather than everything
        return -1, "暂时无法确认您的管理范围，请稍后再试"
    sid = -1 if scope.unit_ids == frozenset() and scope.unit_id == -1 else scope.unit_id
    for unit in parse_qs(query).get("unit", []):
        if not unit.isdigit() or not scope.covers(int(unit)):
            return sid, scopes.MSG_OUT_OF_SCOPE
    return sid, None


def trainer_refusal(path: str, query: str, username: str, *, prefix: str = "/",
                    url: str | None = None) -> str | None:
    """Why a user who is not an administrator may not have ``path?query`` (None: they may).

    Pages and listings: only :data:`TRAINER_PAGE`, and with ``?course=`` only courses they
    teach. Everything a page needs once rendered (kernels, static files) stays open: a kernel
    id is only known to the page that started it."""
    from grading.reports.items import may_view

    rel = path[len(prefix):] if path.startswith(prefix) else path.lstrip("/")
    if rel in ("", "/") or rel.startswith(("voila/tree", "voila/api/contents")):
        return "无权查看此页面"
    if rel.startswith("voila/render/"):
        if unquote(rel[len("voila/render/"):]) != TRAINER_PAGE:
            return "无权查看此页面"
        courses = parse_qs(query).get("course", [])
        records = url or os.environ.get(DB_URL_ENV) or DataDir.from_env().records_db_url
        if any(not may_view(records, username, c, admin=False) for c in courses):
            return "无权查看该课程的题目分析"
    return None


def viewer_from_env() -> dict | None:
    """On a page: ``{"name", "admin", "scope"}`` of who asked (None outside the hub)."""
    try:
        v = json.loads(os.environ.get(VIEWER_ENV) or "null")
    except ValueError:
        return None
    return v if isinstance(v, dict) and isinstance(v.get("name"), str) else None


def viewer_scope() -> int | None:
    """On a page: the scope unit of the administrator asking (None: city-wide, or no hub)."""
    v = viewer_from_env()
    scope = v.get("scope") if v else None
    return int(scope) if isinstance(scope, int) else None


def asked_unit() -> int | None:
    """On a page: ``?unit=`` (already checked against the scope by the identity provider)."""
    vals = parse_qs(os.environ.get("QUERY_STRING", "")).get("unit", [])
    return int(vals[0]) if vals and vals[0].isdigit() else None


def service_spec(datadir: DataDir, *, port: int | None = None) -> dict:
    """The ``c.JupyterHub.services`` entry of the dashboards."""
    svc = DashboardsService()
    if port:
        svc.port = port
    env = {"XUEFA_DATA_DIR": str(datadir.root)}
    if os.environ.get(DB_URL_ENV):
        env[DB_URL_ENV] = os.environ[DB_URL_ENV]
    return {
        "name": NAME,
        "url": f"http://127.0.0.1:{svc.port}",
        "command": [sys.executable, "-m", "hub_config.dashboards_service", "--port", str(svc.port)],
        "environment": env,
        "oauth_no_confirm": True,
        "display": True,
        "info": {"title": "学习完成情况仪表盘"},
    }


def service_role() -> dict:
    """Administrators may open the dashboards; trainers too, but HubIdentityProvider lets them
    see only the 题目分析 page of their own courses."""
    return {
        "name": "dashboards-viewer",
        "description": "Open the completion dashboards (administrators) and item analysis (trainers)",
        "scopes": [f"access:services!service={NAME}"],
        "groups": [ADMIN_GROUP, TRAINER_GROUP],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="xuefa completion dashboards (Voila)")
    parser.add_argument("--port", type=int, default=None)
    parser.add_argument("--pool-size", type=int, default=None)
    parser.add_argument("--no-preheat", action="store_true")
    args = parser.parse_args(argv)
    private_umask()  # exports and caches: root's alone
    svc = DashboardsService()
    if args.port:
        svc.port = args.port
    if args.pool_size:
        svc.pool_size = args.pool_size
    if args.no_preheat:
        svc.preheat = False
    datadir = DataDir.from_env()
    root = svc.prepare(datadir)
    hub = bool(os.environ.get("JUPYTERHUB_API_TOKEN"))
    base_url = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/") if hub else "/"
    from voila.app import main as voila_main

    # the learners' Voila template (hub_config/share): admins also get Chinese, not Voila's
    # "Running overview..." and the widget manager's "Loading widget..."
    share = Path(__file__).resolve().parent / "share"
    os.environ["JUPYTER_PATH"] = os.pathsep.join(
        p for p in (str(share), os.environ.get("JUPYTER_PATH", "")) if p)
    sys.argv = ["voila", *svc.voila_argv(root, base_url=base_url, hub=hub), "--template=xuefa"]
    voila_main()


if __name__ == "__main__":
    main()
