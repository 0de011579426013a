"""我的学习: 开始学习 fetches the published module through the real nbgrader exchange into the
learner's home, never over their work; the page notebook is installed into homes."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from grading.content.publish import publish_course

ROOT = Path(__file__).resolve().parents[2]


def _module(status="未开始"):
    return {"course_id": "pingtai_rumen", "title": "平台入门", "required": False, "hours": 0.5,
            "status": status, "score": None, "lessons": ["lesson1.ipynb", "lesson2.ipynb"],
            "summary": "", "feedback": False}


def test_start_fetches_into_home_and_links_to_voila(datadir, monkeypatch, tmp_path):
    publish_course(datadir, "pingtai_rumen", source=ROOT / "courses" / "pingtai_rumen")
    home = datadir.home("ganbu1")
    home.mkdir(parents=True)
    monkeypatch.setenv("XUEFA_EXCHANGE", str(datadir.exchange))
    monkeypatch.setenv("XUEFA_HOME", str(home))
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ganbu1/")
    monkeypatch.chdir(home)
    from widgets.home import ModuleCard

    card = ModuleCard(_module())
    assert card.actions.children[0].description == "开始学习"
    card.start()
    fetched = home / "pingtai_rumen" / "module"
    assert (fetched / "lesson1.ipynb").exists() and (fetched / "assessment.ipynb").exists()
    assert "/user/ganbu1/voila/render/pingtai_rumen/module/lesson1.ipynb" in card.message.value
    assert card.status == "学习中"
    assert "HIDDEN TESTS" not in (fetched / "assessment.ipynb").read_text(encoding="utf-8")

    # the learner answers; starting again (or a re-publish) never touches their copy
    (fetched / "assessment.answers.json").write_text(json.dumps({"q01": "A"}), encoding="utf-8")
    nb = nbformat.read(fetched / "lesson1.ipynb", as_version=4)
    ModuleCard(_module("学习中")).start()
    assert json.loads((fetched / "assessment.answers.json").read_text(encoding="utf-8")) == {"q01": "A"}
    assert nbformat.read(fetched / "lesson1.ipynb", as_version=4) == nb


def test_header_and_cards_from_data(monkeypatch, tmp_path):
    monkeypatch.setenv("XUEFA_HOME", str(tmp_path))
    from widgets.home import MyLearning

    data = {"username": "ganbu1", "name": "张三", "audience_label": "干部",
            "campaign": {"name": "2026 干部学习月", "deadline": "2026-12-31", "days_left": 33,
                         "running": True, "pass_mark": 60},
            "required_passed": 1, "required_total": 1, "credited_hours": 0.5, "complete": True,
            "modules": [dict(_module("已合格"), required=True, score=90.0, feedback=True)]}
    page = MyLearning(data)
    assert "2026 干部学习月" in page.header.value and "33" in page.header.value
    assert "已全部合格" in page.header.value
    card = page.cards["pingtai_rumen"]
    assert "已合格" in card.info.value and "90" in card.info.value
    # nothing measures time or ranks people
    text = page.header.value + card.info.value
    assert "排名" not in text and "时长" not in text


def test_install_home(tmp_path):
    from hub_config.home import HOME_NOTEBOOK, install_home

    dest = install_home(tmp_path / "home" / "ganbu1")
    assert dest.name == HOME_NOTEBOOK
    nb = nbformat.read(dest, as_version=4)
    assert "MyLearning()" in nb.cells[0].source
    assert install_home(tmp_path / "home" / "ganbu1") == dest
