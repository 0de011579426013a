"""Shared fixtures for integration tests: the real platform, started the way an admin starts it.

``hub`` (module scope) runs the real ``xuefa up`` in a subprocess -- real JupyterHub, real
configurable-http-proxy, the real managed services, real system users ``xf-<name>`` when root --
on a free loopback port with a throwaway data dir, after importing a small roster
(:data:`ROSTER`). It yields a :class:`Hub`:

``hub.url``            ``http://127.0.0.1:PORT`` (public proxy URL)
``hub.datadir``        the :class:`grading.host.datadir.DataDir` of that platform
``hub.api_token``      the ``xuefa-cli`` admin API token (``DATA/hub/api_token``)
``hub.api(method, path, **kw)``  hub REST call with that token, e.g. ``hub.api("GET", "/users")``
``hub.login(username, password=None) -> requests.Session``
                       the real login form (xsrf) including the forced first-login password
                       change; ``password=None`` means "whatever the password is now" (the
                       fixture remembers :data:`NEW_PASSWORD` after a change)
``hub.try_login(username, password) -> requests.Response``  one raw form post, no redirect
                       followed (302 = logged in, 403 = refused, 200 = change-password form)
``hub.change_password(session, form_response, new)``  answer that form (302 when accepted)
``new_session()``      a ``requests.Session`` that decodes the hub's zh-CN pages as UTF-8
``hub.spawn(session, username)``  start that user's server as the user would, wait until ready
``hub.log_text()``     the hub's (and the single-user servers') log so far

Accounts (initial password :data:`INITIAL_PASSWORD`): ``admin1`` 管理员, ``trainer1`` 讲师,
``learner1`` 学员/干部, ``learner2`` 学员/法律明白人, and two spare learners ``spare1``,
``spare2`` (for tests that lock out or deactivate someone; each test file gets its own hub).

Variants: override the module-scoped ``hub_env`` fixture in a test file to add environment
variables for ``xuefa up`` (e.g. ``{"XUEFA_DISABLE_SERVICES": "dashboards"}`` to save CPU when
a test does not need the dashboards). Teardown stops ``xuefa up`` with SIGTERM, as Ctrl-C would,
and fails if any process of that platform (anything with its ``XUEFA_DATA_DIR`` in the
environment) is still alive.

Mark tests ``@pytest.mark.integration``. Data dirs live under ``/tmp`` with mode 0755 (not
pytest's 0700 ``tmp_path``) because learners' servers run as other unix users.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from grading.host.datadir import DataDir
from hub_config.tools.platform import VENV_BIN, Platform  # noqa: F401  (VENV_BIN: for test files)

REPO = Path(__file__).resolve().parents[2]
INITIAL_PASSWORD = "Init-pass-2026"
NEW_PASSWORD = "Xuefa2026new"
START_TIMEOUT = 120
SPAWN_TIMEOUT = 120

ROSTER_HEADER = ["账号", "姓名", "单位", "身份", "角色", "手机", "初始密码"]
ROSTER = [
    ["admin1", "管理员甲", "测试市", "干部", "管理员", "", INITIAL_PASSWORD],
    ["trainer1", "讲师乙", "测试市/司法局", "干部", "讲师", "", INITIAL_PASSWORD],
    ["learner1", "学员丙", "测试市/城东镇", "干部", "学员", "13800000001", INITIAL_PASSWORD],
    ["learner2", "学员丁", "测试市/城东镇/新城社区", "法律明白人", "学员", "", INITIAL_PASSWORD],
    ["spare1", "学员戊", "测试市/城东镇", "年轻干部", "学员", "", INITIAL_PASSWORD],
    ["spare2", "学员己", "测试市/城东镇", "政法干警", "学员", "", INITIAL_PASSWORD],
]


def write_roster(path: Path, rows: list[list[str]]) -> Path:
    """A UTF-8 roster CSV with the standard columns (rows as in :data:`ROSTER`)."""
    import csv

    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(ROSTER_HEADER)
        w.writerows(rows)
    return path


def _xsrf(session: requests.Session) -> str:
    return session.cookies.get("_xsrf") or ""


def _utf8(response: requests.Response, *args, **kwargs) -> requests.Response:
    # the hub's pages say "text/html" without a charset; requests would assume Latin-1
    response.encoding = "utf-8"
    return response


def new_session() -> requests.Session:
    """A browser-like session whose responses decode as UTF-8 (the pages are zh-CN)."""
    s = requests.Session()
    s.hooks["response"].append(_utf8)
    return s


@dataclass
class Hub(Platform):
    """The running platform plus what a test does with it as people would."""

    roster_path: Path | None = None
    passwords: dict[str, str] = field(default_factory=dict)

    # --- the login form -----------------------------------------------------------------------
    def try_login(self, username: str, password: str,
                  session: requests.Session | None = None) -> requests.Response:
        """One real form post (after GET /hub/login for the xsrf cookie). Not following the
        redirect: a success is a 302 (into the user's server, which need not be running)."""
        s = session or new_session()
        s.get(f"{self.url}/hub/login", timeout=30)
        return s.post(f"{self.url}/hub/login",
                      data={"username": username, "password": password, "_xsrf": _xsrf(s)},
                      timeout=60, allow_redirects=False)

    def change_password(self, session: requests.Session, form: requests.Response,
                        new_password: str, confirm: str | None = None) -> requests.Response:
        """Answer the forced change-password form in ``form`` (no redirect followed)."""
        nonce = re.search(r'name="change_nonce" value="([^"]+)"', form.text)
        assert nonce, f"no change-password form: {form.status_code} {form.text[:300]}"
        return session.post(f"{self.url}/hub/login",
                            data={"change_nonce": nonce.group(1), "new_password": new_password,
                                  "confirm_password": new_password if confirm is None else confirm,
                                  "_xsrf": _xsrf(session)},
                            timeout=60, allow_redirects=False)

    def login(self, username: str, password: str | None = None,
              new_password: str = NEW_PASSWORD) -> requests.Session:
        """Log in through the form; a forced password change is answered with ``new_password``.
        Returns the session holding the hub login cookie (fails the test otherwise)."""
        password = password or self.passwords.get(username, INITIAL_PASSWORD)
        s = new_session()
        r = self.try_login(username, password, s)
        if 'name="change_nonce"' in r.text:
            r = self.change_password(s, r, new_password)
            password = new_password
        assert r.status_code == 302, f"login of {username} failed: {r.status_code} {r.text[:500]}"
        assert self.whoami(s) == username, f"no hub session for {username} after login"
        self.passwords[username] = password
        return s

    def whoami(self, session: requests.Session) -> str | None:
        r = session.get(f"{self.url}/hub/api/user", timeout=30)
        return r.json().get("name") if r.status_code == 200 else None

    # --- servers ------------------------------------------------------------------------------
    def spawn(self, session: requests.Session, username: str,
              timeout: float = SPAWN_TIMEOUT) -> requests.Response:
        """Start ``username``'s server the way the browser does (GET /hub/spawn), wait until the
        hub reports it ready, open a page of it (OAuth hand-over, server cookie), then return
        the response of its ``/api/status`` with that session (200 when reachable).

        On failure the assertion carries the hub log tail: JupyterHub 6.1.1 hides an early
        single-user exit behind ``InvalidStateError``; the server's own output is in the log."""
        session.get(f"{self.url}/hub/spawn/{username}", timeout=60, allow_redirects=False)
        start = time.monotonic()
        seen_pending = False
        while True:
            model = self.api("GET", f"/users/{username}").json()
            server = (model.get("servers") or {}).get("")
            if server and server.get("ready"):
                break
            seen_pending = seen_pending or bool(server)
            elapsed = time.monotonic() - start
            if (not server and (seen_pending or elapsed > 15)) or elapsed > timeout:
                # gone without becoming ready: the spawn failed (or never started)
                raise AssertionError(f"server of {username} did not start ({elapsed:.0f}s):\n"
                                     f"{self.log_text()[-6000:]}")
            time.sleep(1)
        # a page (not an API URL) runs the server's OAuth hand-over as a browser's first visit:
        # the server's default page (JupyterLab, or 我的学习 for learners, who have no Lab)
        session.get(f"{self.url}/user/{username}/", timeout=180)
        return session.get(f"{self.url}/user/{username}/api/status", timeout=60)

    def stop_server(self, username: str) -> None:
        self.api("DELETE", f"/users/{username}/server")


@pytest.fixture(scope="module")
def hub_env() -> dict[str, str]:
    """Extra environment for ``xuefa up``; override in a test file for a variant."""
    return {}


def platform_dir(prefix: str) -> tuple[Path, DataDir]:
    """A throwaway root (mode 0755: learners' servers run as xf-* users and must reach their
    homes) holding a fresh data dir."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    return root, DataDir(root / "data").ensure()


@contextmanager
def running_hub(root: Path, datadir: DataDir, **start):
    """``Hub.start(datadir, **start)``; afterwards stop it, remove ``root`` and fail if any
    process of the platform outlived the stop."""
    h = Hub.start(datadir, **start)
    try:
        yield h
    finally:
        left = h.stop()
        h.remove_accounts()
        log_tail = h.log_text()[-4000:]
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"processes left after stopping xuefa up: {left}\n{log_tail}"


@pytest.fixture(scope="module")
def hub(hub_env):
    """The real platform (``xuefa up``) with :data:`ROSTER` imported; see the module doc."""
    from grading.records import migrate
    from grading.records.roster import import_roster

    root, datadir = platform_dir("xuefa-it-")
    migrate.upgrade(datadir.records_db_url)
    roster_path = write_roster(root / "roster.csv", ROSTER)
    report = import_roster(roster_path, datadir.records_db_url, reports_dir=datadir.reports)
    assert not report.errors, report.errors
    with running_hub(root, datadir, env=hub_env, timeout=START_TIMEOUT,
                     roster_path=roster_path) as h:
        yield h
