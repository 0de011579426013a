"""Locating the notebook (JupyterLab, Voila, autograde), atomic writes, essays into cells."""

from __future__ import annotations

import json

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from widgets.answers import AnswerStore, answers_path, find_notebook
from widgets.submit import write_essays


def make(path, code):
    nbformat.write(new_notebook(cells=[new_code_cell(code)]), path)


def test_find_notebook_under_lab_voila_and_autograde(tmp_path, monkeypatch):
    for k in ("VOILA_REQUEST_URL", "JPY_SESSION_NAME"):
        monkeypatch.delenv(k, raising=False)
    make(tmp_path / "lesson1.ipynb", 'xf.setup(mode="practice")\nxf.SingleChoice(id="q01")')
    make(tmp_path / "assessment.ipynb", 'xf.setup(mode="assessment")\nxf.SingleChoice(id="q01")\n'
                                        'xf.TrueFalse(id="q02")')
    # autograde / nbclient: only the cwd; the ids and the mode decide
    assert find_notebook(tmp_path, ids=["q01"], mode="assessment").name == "assessment.ipynb"
    assert find_notebook(tmp_path, ids=["q01"], mode="practice").name == "lesson1.ipynb"
    assert find_notebook(tmp_path, ids=["q02"]).name == "assessment.ipynb"
    monkeypatch.setenv("JPY_SESSION_NAME", "demo/module/lesson1.ipynb")
    assert find_notebook(tmp_path) == tmp_path / "lesson1.ipynb"
    monkeypatch.setenv("VOILA_REQUEST_URL",
                       "http://h/user/ganbu1/voila/render/demo/module/assessment.ipynb?x=1")
    assert find_notebook(tmp_path) == tmp_path / "assessment.ipynb"
    assert answers_path(tmp_path / "assessment.ipynb").name == "assessment.answers.json"


def test_store_writes_atomically_and_leaves_no_temp_files(tmp_path):
    store = AnswerStore(tmp_path / "a.answers.json")
    for i in range(20):
        store.set(f"q{i}", "A")
    assert json.loads((tmp_path / "a.answers.json").read_text())["q19"] == "A"
    assert [p.name for p in tmp_path.iterdir()] == ["a.answers.json"]
    assert AnswerStore(tmp_path / "a.answers.json").get("q7") == "A"


def test_essays_go_into_manually_graded_cells(tmp_path):
    nb_path = tmp_path / "assessment.ipynb"
    meta = {"nbgrader": {"grade": True, "solution": True, "grade_id": "e1", "points": 5}}
    nbformat.write(new_notebook(cells=[
        new_markdown_cell("YOUR ANSWER HERE", metadata=meta),
        new_markdown_cell("说明", metadata={}),
        new_markdown_cell("YOUR ANSWER HERE", metadata={"nbgrader": {**meta["nbgrader"],
                                                                      "grade_id": "e2"}}),
    ]), nb_path)
    written = write_essays(nb_path, {"e1": "我的答案", "e2": "  "}, ["e1", "e2"])
    assert written == ["e1"]
    cells = nbformat.read(nb_path, as_version=4).cells
    assert cells[0].source == "我的答案" and cells[2].source == "YOUR ANSWER HERE"


def test_two_tabs_do_not_wipe_each_other(tmp_path):
    a = AnswerStore(tmp_path / "n.answers.json")
    b = AnswerStore(tmp_path / "n.answers.json")
    a.set("q1", "A")
    b.set("q2", "B")
    a.set("q3", True)
    assert json.loads((tmp_path / "n.answers.json").read_text()) == {"q1": "A", "q2": "B", "q3": True}
