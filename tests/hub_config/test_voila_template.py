"""The ``xuefa`` Voila template (hub_config/share/voila/templates/xuefa): learners' pages keep
Voila's lab template but say 正在打开页面 / 正在加载 instead of Voila's and the widget manager's
English ("Running …", "Executing 3 of 10", "Loading widget...")."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import nbformat

from hub_config.spawner import JUPYTER_DATA, VOILA_TEMPLATE
from tests.conftest import free_port


def test_voila_page_loading_texts_are_chinese(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import ipywidgets as W\nW.Button(description='提交')")])
    nbformat.write(nb, tmp_path / "page.ipynb")
    port = free_port()
    env = {**os.environ, "JUPYTER_PATH": str(JUPYTER_DATA)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
         f"--template={VOILA_TEMPLATE}", str(tmp_path / "page.ipynb")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        page, deadline = None, time.time() + 120
        while page is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=60) as r:
                    page = r.read().decode()
            except OSError:
                assert proc.poll() is None and time.time() < deadline, proc.stderr.read().decode()[-2000:]
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "application/vnd.jupyter.widget-view+json" in page  # still Voila's lab page
    assert "正在打开页面" in page
    # the JS placeholders are replaced in the page
    assert '"Loading widget...": "正在加载……"' in page
    assert "window.voila_process = window.update_loading_text" in page
