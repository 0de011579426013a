"""The notebook that is graded is the course's; a learner supplies only data (answers, essays)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat

from grading.grader.rebuild import MAX_ANSWERS_BYTES, escape_text, question_schema, rebuild, sanitize_answers
from hub_config.tools.bench import assessment_notebook

REPO = Path(__file__).resolve().parents[2]
QUIZ = REPO / "courses" / "pingtai_rumen" / "source" / "module" / "assessment.ipynb"
ESSAY = REPO / "courses" / "shufa" / "source" / "module" / "assessment.ipynb"


def _learner(tmp_path: Path, course_nb: Path, edit=None) -> Path:
    nb = nbformat.read(str(course_nb), as_version=4)
    if edit:
        edit(nb)
    p = tmp_path / "learner.ipynb"
    nbformat.write(nb, str(p))
    return p


def _sources(nb) -> str:
    return "\n".join(c.source for c in nb.cells)


def test_added_and_changed_cells_are_not_in_the_graded_notebook(tmp_path):
    def edit(nb):
        nb.cells.insert(1, nbformat.v4.new_code_cell("import os; os.system('id > /tmp/pwned')"))
        nb.cells[0].source = "import widgets.model as m\nm.score = lambda *a, **k: None"
        nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="forged")]

    r = rebuild(QUIZ, _learner(tmp_path, QUIZ, edit), json.dumps({"q01": "A"}).encode())
    course = nbformat.read(str(QUIZ), as_version=4)
    assert [c.source for c in r.notebook.cells] == [c.source for c in course.cells]
    assert "os.system" not in _sources(r.notebook) and "m.score" not in _sources(r.notebook)
    assert all(not c.get("outputs") for c in r.notebook.cells)
    assert r.dropped_cells == 1 and any("课程以外" in n for n in r.notes)
    assert r.answers == {"q01": "A"}


def test_an_untouched_notebook_has_nothing_dropped(tmp_path):
    r = rebuild(QUIZ, _learner(tmp_path, QUIZ), b"{}")
    assert r.dropped_cells == 0 and r.notes == []


def test_answers_are_checked_against_the_course_questions():
    schema = question_schema(QUIZ)
    raw = json.dumps({"q01": "A", "q05": True, "q08": ["合格"], "q10": {"a": True, "zz": 1},
                      "q02": {"not": "a letter"}, "q09": 12, "evil": "x" * 10,
                      "q03": "B" * 10_000}).encode()
    answers, notes = sanitize_answers(raw, schema, "assessment.answers.json")
    assert answers == {"q01": "A", "q05": True, "q08": ["合格"], "q10": {"a": True}}
    assert any("本测试没有的题号" in n for n in notes)
    assert any("q02" in n and "q03" in n and "q09" in n for n in notes)


def test_broken_or_huge_answers_files_count_as_unanswered():
    schema = question_schema(QUIZ)
    assert sanitize_answers(b"{not json", schema, "a.json")[0] == {}
    assert sanitize_answers(b"[1, 2]", schema, "a.json")[0] == {}
    big = json.dumps({"q01": "A", "pad": "x" * MAX_ANSWERS_BYTES}).encode()
    answers, notes = sanitize_answers(big, schema, "a.json")
    assert answers == {} and "KB" in notes[0]
    deep = b"[" * 100_000 + b"]" * 100_000
    assert sanitize_answers(deep, schema, "a.json")[0] == {}


def test_an_essay_is_written_from_the_answers_file_as_escaped_text(tmp_path):
    payload = "<script>alert(1)</script>\n<img src=x onerror=alert(2)> [链接](javascript:alert(3))"

    def edit(nb):  # a hand-edited essay cell is ignored: the answers file is the source
        for c in nb.cells:
            if c.metadata.get("nbgrader", {}).get("grade_id") == "q11":
                c.source = "<script>steal()</script>"

    r = rebuild(ESSAY, _learner(tmp_path, ESSAY, edit), json.dumps({"q11": payload}).encode())
    cell = next(c for c in r.notebook.cells if c.metadata["nbgrader"].get("grade_id") == "q11")
    assert "<script" not in cell.source and "<img" not in cell.source and "steal" not in cell.source
    assert "&lt;script&gt;" in cell.source and "](javascript" not in cell.source
    # shown as typed: markdown rendering of the escaped text gives back the learner's characters
    import html

    import mistune  # nbconvert's Markdown renderer

    shown = html.unescape(mistune.html(cell.source))
    assert "<script>alert(1)</script>" in shown and "[链接](javascript:alert(3))" in shown


def test_escape_text_keeps_line_breaks():
    assert escape_text("第一行\n第二行") == "第一行  \n第二行"


def test_plain_nbgrader_solution_code_is_the_learners_and_nothing_else(tmp_path):
    nb = assessment_notebook(2)
    code = nbformat.v4.new_code_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n"
                                     "    ### END SOLUTION")
    code.metadata["nbgrader"] = {"schema_version": 3, "grade": False, "solution": True,
                                 "locked": False, "grade_id": "add", "task": False}
    nb.cells.append(code)
    course = tmp_path / "course.ipynb"
    nbformat.write(nb, str(course))

    def edit(n):
        next(c for c in n.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "add").source = \
            "def add(a, b):\n    return a - b"
        n.cells.append(nbformat.v4.new_code_cell("print('extra')"))

    r = rebuild(course, _learner(tmp_path, course, edit), None)
    assert "return a - b" in _sources(r.notebook) and "print('extra')" not in _sources(r.notebook)
    assert r.answers is None and r.dropped_cells == 1
