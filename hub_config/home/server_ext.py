"""Jupyter server extension: 我的学习 served by the learner's own server, without a kernel.

Enabled for learners only (``hub_config/learner_config/jupyter_server_config.json``), so it
runs inside ``jupyterhub-singleuser`` as the learner's system user:

``GET  <prefix>xuefa/learning``                the page (:func:`hub_config.home.page.render_page`)
``POST <prefix>xuefa/learning/start/<course>``  开始学习: nbgrader fetch into ``~/<course>/module``
``GET  <prefix>voila/render/我的学习.ipynb``     the old address, redirected to the page

Why here and not a hub page: the learner's server already holds the only token the records
service answers ``api/me/learning`` with for this learner (``JUPYTERHUB_API_TOKEN``), runs as
the learner (开始学习 writes into their home with their own rights) and is only reachable by
its owner (the hub's OAuth). A hub page would have to fetch modules as root into a learner's
home, and learners would no longer need a server at login, which the start queue and
``xuefa load`` are built around.

The page asks the records service with tornado's non-blocking client (the server's event loop
keeps serving the learner's quiz page meanwhile). 开始学习 fetches in a short-lived subprocess
(:mod:`widgets.exchange_files`, run as a file, standard library only), so nothing of it stays
in the server for the rest of the session, for one click per module.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import sys
from pathlib import Path
from urllib.parse import quote

from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPRequest

from hub_config.home import HOME_NOTEBOOK
from hub_config.home.page import PAGE_PATH, Links, home_dir, render_page

COURSE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
RECORDS_TIMEOUT = 20.0  # seconds: the page says so and offers 刷新 rather than spinning
FETCH_TIMEOUT = 180.0
# widgets/exchange_files.py run as a file: importing the widgets package (ipywidgets) or
# nbgrader would be most of the process (found without importing the package)
EXCHANGE_SCRIPT = str(Path(importlib.util.find_spec("widgets").submodule_search_locations[0],
                           "exchange_files.py"))
NO_SERVICE = "无法连接学习记录服务（不在平台环境中运行）"
BUSY = "暂时无法读取学习记录（网络或服务繁忙），请稍后刷新页面"
START_FAILED = "课程准备失败，请稍后重试；如仍失败，请联系讲师。"


async def load_learning(timeout: float = RECORDS_TIMEOUT) -> dict:
    """The records service's ``api/me/learning`` for this server's owner; RuntimeError (zh-CN)
    on failure."""
    base = os.environ.get("XUEFA_RECORDS_URL", "")
    if not base:
        raise RuntimeError(NO_SERVICE)
    req = HTTPRequest(base.rstrip("/") + "/api/me/learning", request_timeout=timeout,
                      connect_timeout=min(timeout, 10.0),
                      headers={"Authorization": f"token {os.environ.get('JUPYTERHUB_API_TOKEN', '')}"})
    try:
        r = await AsyncHTTPClient().fetch(req)
        data = json.loads(r.body)
    except Exception as e:  # the page must say something useful, never a traceback
        raise RuntimeError(BUSY) from e
    if not isinstance(data, dict):
        raise RuntimeError(BUSY)
    return data


class _Base(JupyterHandler):
    def links(self) -> Links:
        return Links(self.base_url, os.environ.get("JUPYTERHUB_BASE_URL", "/"))

    def set_default_headers(self):
        super().set_default_headers()
        # a page of data: never cached by a shared office proxy, never sniffed as anything else
        self.set_header("Cache-Control", "no-store")
        self.set_header("X-Content-Type-Options", "nosniff")


class LearningHandler(_Base):
    @web.authenticated
    async def get(self):
        ready = self.get_query_argument("ready", None)
        failed = self.get_query_argument("failed", None)
        try:
            data, error = await load_learning(), None
        except RuntimeError as e:
            data, error = None, str(e)
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(render_page(data, self.links(), home_dir(), xsrf_form=self.xsrf_form_html(),
                                ready=ready, error=error, alert=START_FAILED if failed else None))


class StartHandler(_Base):
    """开始学习: fetch the module (never over an existing copy: the answers live there)."""

    @web.authenticated
    async def post(self, course_id: str):
        page = self.links().page()
        if not COURSE_ID.match(course_id):
            raise web.HTTPError(404)
        request = json.dumps({"action": "fetch", "course": course_id, "home": str(home_dir())})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-P", EXCHANGE_SCRIPT, cwd=str(home_dir()),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE)
        try:
            _, err = await asyncio.wait_for(proc.communicate(request.encode()), FETCH_TIMEOUT)
        except asyncio.TimeoutError:
            proc.kill()
            await proc.wait()
            err = b"timeout"
        if proc.returncode != 0:
            self.log.warning("开始学习 %s failed: %s", course_id, err.decode(errors="replace")[-500:])
            self.redirect(f"{page}?failed={quote(course_id)}", status=303)
            return
        self.redirect(f"{page}?ready={quote(course_id)}#{quote(course_id)}", status=303)


class LegacyRedirect(_Base):
    """Bookmarks and old links to the Voila 我的学习 land on the page."""

    @web.authenticated
    def get(self):
        self.redirect(self.links().page())


def _jupyter_server_extension_points():
    return [{"module": "hub_config.home.server_ext"}]


def _load_jupyter_server_extension(serverapp) -> None:
    web_app = serverapp.web_app
    base = web_app.settings["base_url"]
    handlers = [
        (url_path_join(base, PAGE_PATH), LearningHandler),
        (url_path_join(base, PAGE_PATH, "start", r"([^/]+)"), StartHandler),
        (url_path_join(base, "voila", "render", re.escape(quote(HOME_NOTEBOOK))), LegacyRedirect),
        (url_path_join(base, "voila", "render", re.escape(HOME_NOTEBOOK)), LegacyRedirect),
    ]
    web_app.add_handlers(".*$", handlers)
    # first in line: Voila's catch-all voila/render/(.*) must not see the old 我的学习 address
    rules = web_app.default_router.rules
    rules.insert(0, rules.pop(-2))
    serverapp.log.info("xuefa: 我的学习 at %s", url_path_join(base, PAGE_PATH))
