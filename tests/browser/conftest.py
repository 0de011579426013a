"""Browser fixtures: one real ``xuefa up --demo`` per test module, driven by headless Chromium.

``platform`` (module scope) starts the platform exactly as an administrator's first try does
(``xuefa up --demo``: demo roster, demo courses published, demo campaign loaded) on a free
loopback port with a throwaway data dir, reusing the integration fixture's machinery
(:mod:`tests.integration.conftest`: start-up wait, the admin API token, clean stop).

``browser`` (module scope) is Debian's ``/usr/bin/chromium`` through pip's Playwright
(Playwright's own browser downloads are not used: only the system Chromium is). ``shot(page, name)`` saves a screenshot under
:data:`SHOTS` (printed once) so a reviewer can look at the key pages.

Mark tests ``@pytest.mark.browser``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from grading.datadir import DataDir
from tests.conftest import free_port
import tests.integration.conftest as integration
from tests.integration.conftest import VENV_BIN, Hub, ensure_proxy, stop_platform

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("XUEFA_SCREENSHOTS", REPO / "test-artifacts" / "screenshots"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]
DEMO_PASSWORD = "xuefa-demo-2026"
NEW_PASSWORD = "Xuefa2026new"
# Voila pages execute a whole notebook in a fresh kernel: slow on a loaded 2-core machine
PAGE_TIMEOUT = 180_000
START_TIMEOUT = 420


@pytest.fixture(scope="module")
def platform():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    ensure_proxy()
    root = Path(tempfile.mkdtemp(prefix="xuefa-br-"))
    root.chmod(0o755)  # learners' servers run as xf-* users and must reach their homes
    datadir = DataDir(root / "data").ensure()
    port = free_port()
    log_path = root / "xuefa-up.log"
    env = dict(os.environ, XUEFA_DATA_DIR=str(datadir.root),
               PATH=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("JUPYTERHUB_API_TOKEN", None)
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(VENV_BIN / "xuefa"), "up", "--demo",
                                 "--data-dir", str(datadir.root),
                                 "--port", str(port), "--ip", "127.0.0.1"],
                                cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    h = Hub(url=f"http://127.0.0.1:{port}", datadir=datadir, proc=proc, log_path=log_path,
            roster_path=REPO / "courses" / "demo" / "roster.csv")
    try:
        # --demo publishes every shipped course before the hub starts: minutes on a loaded machine
        integration._wait_up(h, timeout=START_TIMEOUT)
        yield h
    finally:
        left = stop_platform(h)
        log_tail = h.log_text()[-4000:]
        shutil.rmtree(root, ignore_errors=True)
        assert not left, f"processes left after stopping xuefa up: {left}\n{log_tail}"


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots: {SHOTS}")
    return SHOTS


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def shot(screenshots):
    def save(page, name: str) -> Path:
        path = screenshots / f"{name}.png"
        # the viewport, not full_page: Voila scrolls inside its own container, so callers scroll
        # what matters into view first
        page.screenshot(path=str(path))
        return path
    return save
