"""我的学习: 开始学习 fetches the published module through the real nbgrader exchange into the
learner's home, never over their work; the page notebook is installed into homes."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from grading.content.publish import publish_course

ROOT = Path(__file__).resolve().parents[2]


def test_start_fetches_into_home(datadir, monkeypatch, tmp_path):
    """开始学习 (the page runs fetch_module in a short-lived process): nbgrader fetches the
    module without hidden tests; starting again, or a re-publish, never touches the copy."""
    publish_course(datadir, "pingtai_rumen", source=ROOT / "courses" / "pingtai_rumen")
    home = datadir.home("ganbu1")
    home.mkdir(parents=True)
    monkeypatch.setenv("XUEFA_EXCHANGE", str(datadir.exchange))
    monkeypatch.setenv("XUEFA_HOME", str(home))
    monkeypatch.chdir(home)
    from widgets.home import fetch_module

    fetched = fetch_module("pingtai_rumen")
    assert fetched == home / "pingtai_rumen" / "module"
    assert (fetched / "lesson1.ipynb").exists() and (fetched / "assessment.ipynb").exists()
    assert "HIDDEN TESTS" not in (fetched / "assessment.ipynb").read_text(encoding="utf-8")

    (fetched / "assessment.answers.json").write_text(json.dumps({"q01": "A"}), encoding="utf-8")
    nb = nbformat.read(fetched / "lesson1.ipynb", as_version=4)
    fetch_module("pingtai_rumen")
    assert json.loads((fetched / "assessment.answers.json").read_text(encoding="utf-8")) == {"q01": "A"}
    assert nbformat.read(fetched / "lesson1.ipynb", as_version=4) == nb


def test_install_home(tmp_path):
    """我的学习 is served by the learner's server (hub_config.home.server_ext): the home gets
    only 我的错题本.ipynb."""
    from hub_config.home import HOME_NOTEBOOK, WRONGBOOK_NOTEBOOK, install_home

    dest = install_home(tmp_path / "home" / "ganbu1")
    assert dest.name == WRONGBOOK_NOTEBOOK
    nb = nbformat.read(dest, as_version=4)
    assert "xf.WrongBook()" in nb.cells[0].source
    assert not (dest.parent / HOME_NOTEBOOK).exists()
    assert install_home(tmp_path / "home" / "ganbu1") == dest
