"""我的学习 from the learner's server (hub_config.home.server_ext) in a real Jupyter server with
the learners' config, against a stand-in records service: the page is served without a
kernel, asks the service with the server's own token, escapes what it shows; the old Voila
address redirects; learners' servers have no JupyterLab, terminals or nbgrader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hub_config.spawner import JUPYTER_DATA, LEARNER_CONFIG
from tests.conftest import free_port

SERVER_TOKEN = "server-own-token"
HOSTILE = "<script>alert(1)</script>"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    seen: list[str] = []

    class Records(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            seen.append(self.headers.get("Authorization", ""))
            if self.path != "/services/records/api/me/learning" or \
                    self.headers.get("Authorization") != f"token {SERVER_TOKEN}":
                self.send_response(403)
                self.end_headers()
                return
            body = json.dumps({
                "username": "ganbu1", "name": "张三", "audience_label": "干部", "complete": False,
                "campaign": {"name": "2026 干部学习月", "deadline": "2026-12-31", "days_left": 3,
                             "running": True, "pass_mark": 60},
                "modules": [{"course_id": "pingtai_rumen", "title": "平台入门" + HOSTILE,
                             "required": True, "hours": 0.5, "status": "未开始"}],
                "notices": [{"title": HOSTILE, "body": "通知正文", "posted_at": "2026-12-01"}],
            }, ensure_ascii=False).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    records = ThreadingHTTPServer(("127.0.0.1", 0), Records)
    threading.Thread(target=records.serve_forever, daemon=True).start()
    home = tmp_path_factory.mktemp("home")
    exchange = tmp_path_factory.mktemp("exchange")
    released = exchange / "pingtai_rumen" / "outbound" / "module"
    released.mkdir(parents=True)
    (released / "assessment.ipynb").write_text('{"cells": [], "metadata": {}, "nbformat": 4, '
                                               '"nbformat_minor": 5}')
    port = free_port()
    env = {**os.environ, "JUPYTER_CONFIG_PATH": str(LEARNER_CONFIG), "JUPYTER_PATH": str(JUPYTER_DATA),
           "XUEFA_HOME": str(home), "JUPYTERHUB_API_TOKEN": SERVER_TOKEN, "XUEFA_EXCHANGE": str(exchange),
           "XUEFA_RECORDS_URL": f"http://127.0.0.1:{records.server_port}/services/records/"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}",
         "--ServerApp.ip=127.0.0.1", "--IdentityProvider.token=t0k", f"--ServerApp.root_dir={home}",
         *(["--allow-root"] if os.geteuid() == 0 else [])],
        cwd=home, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token=t0k", timeout=10)
            break
        except OSError:
            assert proc.poll() is None and time.time() < deadline, proc.stderr.read().decode()[-2000:]
            time.sleep(0.3)
    try:
        yield base, seen, home
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        records.shutdown()


def _get(url: str):
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        r = opener.open(url, timeout=60)
        return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode(errors="replace")


def test_page_is_served_by_the_server_with_its_token(server):
    base, seen, _ = server
    status, headers, page = _get(f"{base}/xuefa/learning?token=t0k")
    assert status == 200, page[:500]
    assert headers["Content-Type"].startswith("text/html") and headers["Cache-Control"] == "no-store"
    assert "我的学习 · 2026 干部学习月" in page and "平台入门" in page and "还剩 <b>3</b> 天" in page
    assert ">开始学习</button>" in page and "name=\"_xsrf\"" in page
    assert "通知公告" in page and "通知正文" in page
    assert HOSTILE not in page and "&lt;script&gt;" in page
    assert seen and seen[-1] == f"token {SERVER_TOKEN}"
    # no kernel was started for it
    status, _, kernels = _get(f"{base}/api/kernels?token=t0k")
    assert status == 200 and json.loads(kernels) == []


def test_old_voila_address_redirects(server):
    base, _, _ = server
    status, headers, _ = _get(f"{base}/voila/render/%E6%88%91%E7%9A%84%E5%AD%A6%E4%B9%A0.ipynb?token=t0k")
    assert status == 302 and headers["Location"].endswith("/xuefa/learning")


def test_start_needs_the_xsrf_token(server):
    """A browser is logged in by cookie (the hub's OAuth in a real server): a POST from another
    site's form, without the page's _xsrf, is refused."""
    import http.cookiejar

    base, _, _ = server
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect)
    browser.open(f"{base}/xuefa/learning?token=t0k", timeout=60).read()  # logs in: a cookie
    assert any(c.name.startswith("username-") for c in jar), [c.name for c in jar]
    req = urllib.request.Request(f"{base}/xuefa/learning/start/pingtai_rumen", data=b"x=1",
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        browser.open(req, timeout=60)
    assert e.value.code == 403
    # a course id that is no course id never reaches nbgrader
    req = urllib.request.Request(f"{base}/xuefa/learning/start/..%2F..%2Fetc?token=t0k", data=b"",
                                 method="POST")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.build_opener(_NoRedirect).open(req, timeout=60)
    assert e.value.code == 404


def test_learners_server_loads_only_what_they_use(server):
    base, _, _ = server
    for path in ("lab", "tree", "api/terminals", "nbgrader_version", "lsp/status"):
        status, _, _ = _get(f"{base}/{path}?token=t0k")
        assert status == 404, path


def test_start_fetches_the_module_once_and_never_over_the_learners_copy(server):
    """开始学习 fetches in a short-lived process (widgets/exchange_files.py): the module lands in
    the learner's home, a second click keeps their answers, an unreleased course says failed."""
    base, _, home = server

    def start(course: str) -> str:
        req = urllib.request.Request(f"{base}/xuefa/learning/start/{course}?token=t0k", data=b"",
                                     method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:  # 303 is not followed
            urllib.request.build_opener(_NoRedirect).open(req, timeout=120)
        assert e.value.code == 303
        return e.value.headers["Location"]

    assert "ready=pingtai_rumen" in start("pingtai_rumen")
    notebook = home / "pingtai_rumen" / "module" / "assessment.ipynb"
    assert json.loads(notebook.read_text())["nbformat"] == 4
    notebook.write_text("学员的作答")
    assert "ready=pingtai_rumen" in start("pingtai_rumen")
    assert notebook.read_text() == "学员的作答"
    assert "failed=xianfa" in start("xianfa")
    assert not (home / "xianfa" / "module").exists()
