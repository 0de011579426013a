"""A Voila page whose kernel never answers ends instead of spinning for ever: the spawner's
``VoilaExecutor.timeout`` ends the render, and the xuefa template turns the English timeout
output (and a spinner still there after a while) into a Chinese message with 刷新."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

import nbformat

from hub_config.spawner import JUPYTER_DATA, VOILA_TEMPLATE
from tests.conftest import free_port


def test_a_cell_that_never_answers_ends_the_render_with_reload(tmp_path):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import time\ntime.sleep(600)")])
    nbformat.write(nb, tmp_path / "page.ipynb")
    port = free_port()
    env = {**os.environ, "JUPYTER_PATH": str(JUPYTER_DATA)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "voila", "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1",
         f"--template={VOILA_TEMPLATE}", "--VoilaExecutor.timeout=3", str(tmp_path / "page.ipynb")],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        page, deadline = None, time.time() + 120
        while page is None:
            try:
                t0 = time.monotonic()
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=90) as r:
                    page = r.read().decode()
                took = time.monotonic() - t0
            except OSError:
                assert proc.poll() is None and time.time() < deadline, proc.stderr.read().decode()[-2000:]
                time.sleep(0.5)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert took < 60, took  # the render ended (the kernel would have slept 600 s)
    assert "window.voila_finish();" in page
    assert "timed out" in page  # Voila's English output, which the page hides ...
    assert "请点击刷新重新打开" in page and 'button.textContent = "刷新"' in page  # ... for this
