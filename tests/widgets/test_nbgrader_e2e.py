"""End to end through real nbgrader: a source notebook built with the widgets →
generate_assignment (no keys in the release) → release → learners fetch, answer (widgets
saving their answers file) and press 提交 (ExchangeSubmit from the kernel side) → collect →
autograde → the gradebook holds the expected scores for a correct, a partly correct and an
empty submission, and the autograded notebook carries the item outputs the grading
service reads."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

import widgets as xf

pytestmark = pytest.mark.slow

COURSE, ASSIGNMENT = "demo", "module"
NBGRADER = str(Path(sys.executable).with_name("nbgrader"))

QUESTIONS = '''\
q1 = xf.SingleChoice(id="q1", stem="行政诉讼由哪个机关审理？", points=2,
                     options=["行政机关", "人民法院", "人民检察院", "公安机关"],
                     legal_basis="《中华人民共和国行政诉讼法》第三条")
q2 = xf.MultipleChoice(id="q2", stem="下列哪些属于行政复议范围？", points=4, partial="subset",
                       options=["行政处罚", "内部人事处分", "行政强制措施", "行政许可"])
q3 = xf.TrueFalse(id="q3", stem="行政机关负责人应当出庭应诉。", points=1)
q4 = xf.FillBlank(id="q4", stem="申请行政复议的期限一般为____。", points=2)
q5 = xf.Ordering(id="q5", stem="请排列行政复议的程序：", points=2,
                 options=["申请", "受理", "审理", "决定"])
q6 = xf.CaseAnalysis(id="q6", scenario="某镇政府对张某作出罚款决定……", questions=[
    xf.SingleChoice(id="a", stem="张某可以向谁申请复议？", options=["县政府", "市政府"], points=2),
    xf.TrueFalse(id="b", stem="张某可以直接起诉。", points=1),
])
q7 = xf.Essay(id="q7", stem="结合工作谈谈如何依法行政。", points=5, rubric="依法、程序、责任")
'''

# distinctive explanations, so the release can be searched for every one of them
TESTS = {
    "q1": (2, 'xf.grade("q1", key="B", explanation="解析甲：人民法院审理行政案件")'),
    "q2": (4, 'xf.grade("q2", key="ACD", partial="subset", explanation="解析乙：内部处分除外")'),
    "q3": (1, 'xf.grade("q3", key=True, explanation="解析丙：负责人出庭应诉")'),
    "q4": (2, 'xf.grade("q4", key=[["六十日", "60日", "六十天"]], explanation="解析丁：期限")'),
    "q5": (2, 'xf.grade("q5", key="ABCD", explanation="解析戊：程序顺序")'),
    "q6": (3, 'xf.grade("q6", key={"a": "A", "b": True}, explanation="解析己：复议机关")'),
}
SECRETS = ["xf.grade", "key=", "解析甲", "解析乙", "解析丙", "解析丁", "解析戊", "解析己",
           "六十天", "HIDDEN TESTS", "依法、程序、责任之外的评分秘密"]


def source_notebook() -> nbformat.NotebookNode:
    def grade_cell(qid, points, body):
        return new_code_cell(
            f"### BEGIN HIDDEN TESTS\n{body}\n### END HIDDEN TESTS",
            metadata={"nbgrader": {"grade": True, "solution": False, "locked": True,
                                   "grade_id": qid, "points": points, "schema_version": 3}})

    cells = [
        new_markdown_cell("# 行政法测验"),
        new_code_cell('import widgets as xf\n'
                      f'xf.setup(course="{COURSE}", assignment="{ASSIGNMENT}", mode="assessment")'),
        new_code_cell(QUESTIONS),
    ]
    cells += [grade_cell(qid, pts, body) for qid, (pts, body) in TESTS.items()]
    cells.append(new_markdown_cell(
        "### BEGIN SOLUTION\n依法、程序、责任之外的评分秘密\n### END SOLUTION",
        metadata={"nbgrader": {"grade": True, "solution": True, "locked": False,
                               "grade_id": "q7", "points": 5, "schema_version": 3}}))
    cells.append(new_code_cell("xf.Submit()"))
    return new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})


def run(args, cwd, env):
    r = subprocess.run([NBGRADER, *args], cwd=cwd, env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"nbgrader {args}: {r.stdout}\n{r.stderr}"
    return r


@pytest.fixture
def course(tmp_path, monkeypatch):
    root, exchange = tmp_path / "course", tmp_path / "exchange"
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    exchange.mkdir()
    nbformat.write(source_notebook(), root / "source" / ASSIGNMENT / "assessment.ipynb")
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(root)!r}\n"
        f"c.CourseDirectory.course_id = {COURSE!r}\n"
        f"c.Exchange.root = {str(exchange)!r}\nc.Exchange.path_includes_course = True\n"
        "c.ExecutePreprocessor.timeout = 120\n")
    # nbgrader runs `alembic` from PATH
    path = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    env = {**os.environ, "PATH": path, "JUPYTER_DATA_DIR": str(tmp_path / "jdata"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jconfig"), "XUEFA_EXCHANGE": str(exchange),
           "XUEFA_EVENTS_DIR": str(tmp_path / "events")}
    env.pop("JUPYTERHUB_API_TOKEN", None)
    for k in ("PATH", "JUPYTER_DATA_DIR", "JUPYTER_CONFIG_DIR", "XUEFA_EXCHANGE", "XUEFA_EVENTS_DIR"):
        monkeypatch.setenv(k, env[k])
    return root, exchange, env


def learner_answers(home: Path, env: dict, username: str, answer) -> None:
    """Fetch the assignment, run its cells as the learner's kernel would, answer, press 提交."""
    home.mkdir(parents=True)
    run(["fetch_assignment", ASSIGNMENT, "--course", COURSE,
         f"--Exchange.root={env['XUEFA_EXCHANGE']}", "--Exchange.path_includes_course=True"], cwd=home, env={**env, "HOME": str(home)})
    nb_path = home / COURSE / ASSIGNMENT / "assessment.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    ns: dict = {}
    old = os.getcwd()
    os.chdir(nb_path.parent)  # a kernel's cwd is the notebook's dir
    try:
        for cell in nb.cells:
            if cell.cell_type == "code" and "xf.Submit" not in cell.source:
                exec(cell.source.replace(
                    'mode="assessment")', f'mode="assessment", username="{username}")'), ns)
        answer(xf.current().widgets)
        submit = xf.Submit()
        info = submit.submit()
        assert info is not None, submit.status.value
        assert "已提交" in submit.status.value and "已作答" in submit.status.value
        assert ".json" not in submit.status.value and ".ipynb" not in submit.status.value
    finally:
        os.chdir(old)


def correct(w):
    w["q1"].choice.value = "B"
    for L in "ACD":
        w["q2"].boxes[L].value = True
    w["q3"].choice.value = True
    w["q4"].texts[0].value = "６０日"
    while "".join(w["q5"].order) != "ABCD":  # press ↑ like a learner until it is right
        i = next(i for i, L in enumerate(w["q5"].order) if L != "ABCD"[i])
        w["q5"].move(w["q5"].order.index("ABCD"[i]), -1)
    w["q6"].subs["a"].choice.value = "A"
    w["q6"].subs["b"].choice.value = True
    w["q7"].text.value = "坚持法定职责必须为、法无授权不可为。"


def partly(w):
    w["q1"].choice.value = "C"  # wrong: 0
    w["q2"].boxes["A"].value = True  # subset: 2 of 4
    w["q2"].boxes["C"].value = True
    w["q3"].choice.value = True  # right: 1
    w["q4"].texts[0].value = "三十日"  # wrong: 0
    w["q6"].subs["a"].choice.value = "A"  # 2 of 3
    w["q6"].subs["b"].choice.value = False


def empty(w):
    pass


EXPECTED = {"ganbu1": 14.0, "zhengfa1": 5.0, "mingbai1": 0.0}


def test_release_has_no_keys_and_autograde_scores(course, tmp_path, monkeypatch):
    root, exchange, env = course
    run(["generate_assignment", ASSIGNMENT, "--force"], cwd=root, env=env)
    released = (root / "release" / ASSIGNMENT / "assessment.ipynb").read_text(encoding="utf-8")
    for secret in SECRETS:
        assert secret not in released, f"release leaks {secret!r}"
    run(["release_assignment", ASSIGNMENT], cwd=root, env=env)

    for user, fn in (("ganbu1", correct), ("zhengfa1", partly), ("mingbai1", empty)):
        learner_answers(tmp_path / "home" / user, env, user, fn)

    run(["collect", ASSIGNMENT], cwd=root, env=env)
    saved = json.loads((root / "submitted" / "ganbu1" / ASSIGNMENT / "assessment.answers.json")
                       .read_text(encoding="utf-8"))
    assert saved["q1"] == "B" and saved["q5"] == "ABCD"
    run(["autograde", ASSIGNMENT], cwd=root, env=env)

    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        scores = {u: gb.find_submission(ASSIGNMENT, u).score for u in EXPECTED}
        assert scores == EXPECTED
        assert gb.find_submission_notebook("assessment", ASSIGNMENT, "ganbu1").needs_manual_grade
        assert gb.find_grade("q7", "assessment", ASSIGNMENT, "ganbu1").needs_manual_grade
        assert gb.find_grade("q7", "assessment", ASSIGNMENT, "mingbai1").score == 0

    graded = nbformat.read(root / "autograded" / "zhengfa1" / ASSIGNMENT / "assessment.ipynb",
                           as_version=4)
    items = {o.data[xf.MIME]["id"]: o.data[xf.MIME] for c in graded.cells if c.cell_type == "code"
             for o in c.get("outputs", []) if xf.MIME in o.get("data", {})}
    assert set(items) == set(TESTS)
    assert items["q2"]["points"] == 2 and items["q2"]["max_points"] == 4
    assert items["q1"]["answer"] == "C" and items["q1"]["key"] == "B"
    assert items["q6"]["explanation"] == "解析己：复议机关"
    essay = next(c for c in graded.cells
                 if c.metadata.get("nbgrader", {}).get("grade_id") == "q7")
    assert "YOUR ANSWER HERE" in essay.source  # zhengfa1 wrote no essay
    graded = nbformat.read(root / "autograded" / "ganbu1" / ASSIGNMENT / "assessment.ipynb",
                           as_version=4)
    essay = next(c for c in graded.cells
                 if c.metadata.get("nbgrader", {}).get("grade_id") == "q7")
    assert essay.source.startswith("坚持法定职责必须为")

    # released feedback reaches the learner's module dir through 我的学习 (评阅反馈 link)
    from widgets import home

    run(["generate_feedback", ASSIGNMENT], cwd=root, env=env)
    run(["release_feedback", ASSIGNMENT], cwd=root, env=env)
    monkeypatch.setenv("XUEFA_HOME", str(tmp_path / "home" / "ganbu1"))
    files = home.fetch_feedback(COURSE)
    assert files and all(f.name == "assessment.html" for f in files)
    assert all(f.is_relative_to(tmp_path / "home" / "ganbu1" / COURSE / ASSIGNMENT / "feedback")
               for f in files)
    # (the three learners here share one nbgrader cache, so all three feedbacks come along)
    assert any("坚持法定职责必须为" in f.read_text(encoding="utf-8") for f in files)
