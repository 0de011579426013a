"""The example notebook (every widget) executes under nbclient and renders under a real
``voila`` process without Python errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from tests.conftest import free_port

pytestmark = pytest.mark.slow

EXAMPLE = Path(__file__).resolve().parents[2] / "widgets" / "examples" / "all_widgets.ipynb"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


@pytest.fixture
def env(tmp_path):
    e = {**os.environ, "HOME": str(tmp_path / "home"), "JUPYTER_DATA_DIR": str(tmp_path / "jd"),
         "JUPYTER_CONFIG_DIR": str(tmp_path / "jc"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "jr"),
         "XUEFA_EVENTS_DIR": str(tmp_path / "events"),
         "XUEFA_PROGRESS_DIR": str(tmp_path / "progress")}
    for k in ("JUPYTERHUB_API_TOKEN", "JUPYTERHUB_USER", "JPY_SESSION_NAME"):
        e.pop(k, None)
    (tmp_path / "home").mkdir()
    return e


def test_example_executes_under_nbclient(tmp_path, env, monkeypatch):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    nb_path = tmp_path / "lesson" / "all_widgets.ipynb"
    nb_path.parent.mkdir()
    shutil.copy(EXAMPLE, nb_path)
    nb = nbformat.read(nb_path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(nb_path.parent)}}).execute()
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    views = [o for o in outputs if WIDGET_MIME in o.get("data", {})]
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    assert len(views) == len(code_cells)  # every cell shows its widget
    assert not (nb_path.parent / "all_widgets.answers.json").exists()  # nothing answered yet


@contextmanager
def voila_server(tmp_path, env):
    root = tmp_path / "voila"
    root.mkdir()
    shutil.copy(EXAMPLE, root / "all_widgets.ipynb")
    port = free_port()
    voila = str(Path(sys.executable).with_name("voila"))
    proc = subprocess.Popen(
        [voila, str(root / "all_widgets.ipynb"), f"--port={port}", "--no-browser",
         "--Voila.ip=127.0.0.1", "--VoilaConfiguration.show_tracebacks=True"],
        env=env, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        page = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=90) as r:
                    page = r.read().decode("utf-8")
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        assert page is not None, "voila did not answer"
        yield root, port, page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_example_renders_under_voila(tmp_path, env):
    with voila_server(tmp_path, env) as (_root, _port, page):
        assert "Traceback" not in page and "Error" not in page.split("</head>", 1)[-1]
        assert "There was an error when executing cell" not in page
        assert page.count(WIDGET_MIME) >= 10
        assert "法定期限计算器" in page or "DeadlineCalculator" in page
        assert 'name="viewport"' in page  # phone layout


@pytest.mark.browser
def test_phone_width_and_keyboard_answering(tmp_path, env):
    """At 375 px nothing scrolls sideways, and a learner using only the keyboard answers a
    question that is then saved beside the notebook."""
    pw = pytest.importorskip("playwright.sync_api")
    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS

    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    with voila_server(tmp_path, env) as (root, port, _page), pw.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 375, "height": 800})
            page.goto(f"http://127.0.0.1:{port}/", timeout=90_000)
            page.wait_for_selector(".xf-question input[type=radio]", timeout=90_000)
            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= 376, f"page is {overflow}px wide at a 375px viewport"
            first = page.locator(".xf-question input[type=radio]").first
            first.focus()
            page.keyboard.press("Space")
            answers = root / "all_widgets.answers.json"
            deadline = time.monotonic() + 20
            while not answers.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert json.loads(answers.read_text(encoding="utf-8")) == {"p01": "A"}
        finally:
            browser.close()
