"""Item analysis (题目分析, issue 14 §8) against numbers computed by hand.

Ten learners L01..L10 answer four questions; the results are inserted straight into a SQLite
records DB (no grading), as the grading service writes them: ``Result.details`` with the full
items and one ``ItemResult`` per question.

    q1 single    key C   4 pts   options 甲 乙 丙 丁 (A B C D)
    q2 multiple  key AB  3 pts   all or nothing
    q3 truefalse key 对  1 pt
    q4 single    key A   2 pts

    learner  q1     q2     q3  q4   score/10
    L01      C ✓    AB ✓   ✓   B ✗  8
    L02      C ✓    AB ✓   ✓   C ✗  8
    L03      C ✓    A  ✗   ✓   A ✓  7
    L04      C ✓    ABC ✗  ✓   D ✗  5
    L05      A ✗    AB ✓   ✓   A ✓  6
    L06      C ✓    AC ✗   ✓   B ✗  5
    L07      B ✗    AB ✓   ✓   C ✗  4   (paper drawn before q1's options were reordered: 丙丁甲乙, so 乙 was D)
    L08      A ✗    C  ✗   ✓   A ✓  3
    L09      A ✗    BD ✗   ✓   A ✓  3
    L10      -      D  ✗   ✓   A ✓  3   (q1 unanswered)

Ranked by score: L01 L02 (8) L03 (7) | L05 (6) L04 L06 (5) L07 (4) | L08 L09 L10 (3).
N = 10, group size = max(1, round(0.27 * 10)) = round(2.7) = 3:
upper = {L01, L02, L03}, lower = {L08, L09, L10} (no tie across either boundary).

    q1: facility 5/10 = 0.5; upper 3/3 = 1, lower 0/3 = 0, D = 1.
        counts A 3 (L05 L08 L09), B 1 (L07, mapped by option text), C 5, D 0 -> 无人选择的干扰项 (D).
    q2: facility 4/10 = 0.4; upper 2/3, lower 0/3, D = 2/3.
        counts A 7 (L01 L02 L03 L04 L05 L06 L07), B 6 (L01 L02 L04 L05 L07 L09),
        C 3 (L04 L06 L08), D 2 (L09 L10): every distractor chosen, no flag.
    q3: facility 10/10 = 1 with n = 10 -> 无人答错; D = 1 - 1 = 0.
    q4: facility 5/10 = 0.5 (L03 L05 L08 L09 L10); upper 1/3 (L03), lower 3/3, D = -2/3
        -> 高分组反而答错. counts A 5, B 2 (L01 L06), C 2 (L02 L07), D 1 (L04): no unpicked.

Noise that must change nothing: L08's second attempt (all right), L09's refused attempt before
the counted one, L11 whose only result is a grading error, and another course's result.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import nbformat
import openpyxl
import pytest
from click.testing import CliRunner

from grading.records import migrate
from grading.records.db import session_scope
from grading.records.models import (Assessment, Audience, Course, ItemResult, Learner, Paper, Result,
                                    Role, Unit)
from grading.reports import items as ia

COURSE = "item_course"
BANK = [
    {"id": "q1", "type": "single", "stem": "=未成年人是指（  ）的公民。", "options": ["甲", "乙", "丙", "丁"],
     "key": "C", "points": 4, "explanation": "未满十八周岁。", "legal_basis": "《中华人民共和国未成年人保护法》第二条", "difficulty": "易",
     "tags": ["未成年人保护法"]},
    {"id": "q2", "type": "multiple", "stem": "以下哪些正确？", "options": ["一", "二", "三", "四"],
     "key": "AB", "points": 3, "explanation": "甲乙正确。", "legal_basis": "《中华人民共和国行政处罚法》第九条"},
    {"id": "q3", "type": "truefalse", "stem": "判断：法律面前人人平等。", "key": True, "points": 1,
     "explanation": "宪法规定。", "legal_basis": "《中华人民共和国宪法》第三十三条"},
    {"id": "q4", "type": "single", "stem": "行政处罚的种类包括（  ）。", "options": ["甲", "乙", "丙", "丁"],
     "key": "A", "points": 2, "explanation": "甲正确。", "legal_basis": "《中华人民共和国行政处罚法》第九条"},
]
KEYS = {"q1": "C", "q2": "AB", "q3": True, "q4": "A"}
POINTS = {"q1": 4, "q2": 3, "q3": 1, "q4": 2}
ANSWERS = {  # learner -> answers in the bank's option letters
    "L01": {"q1": "C", "q2": "AB", "q3": True, "q4": "B"},
    "L02": {"q1": "C", "q2": "AB", "q3": True, "q4": "C"},
    "L03": {"q1": "C", "q2": "A", "q3": True, "q4": "A"},
    "L04": {"q1": "C", "q2": "ABC", "q3": True, "q4": "D"},
    "L05": {"q1": "A", "q2": "AB", "q3": True, "q4": "A"},
    "L06": {"q1": "C", "q2": "AC", "q3": True, "q4": "B"},
    "L07": {"q1": "B", "q2": "AB", "q3": True, "q4": "C"},
    "L08": {"q1": "A", "q2": "C", "q3": True, "q4": "A"},
    "L09": {"q1": "A", "q2": "BD", "q3": True, "q4": "A"},
    "L10": {"q1": None, "q2": "D", "q3": True, "q4": "A"},
}
# L07's paper snapshot has q1's options as 丙 丁 甲 乙 (an older bank): today's B (乙) was its D
L07_SHOWN = ["丙", "丁", "甲", "乙"]


def _items(answers: dict, shown_q1: dict | None = None) -> list[dict]:
    out = []
    for q in BANK:
        qid = q["id"]
        a = answers.get(qid)
        right = a == KEYS[qid]
        if shown_q1 and qid == "q1" and a is not None:
            a = "ABCD"[L07_SHOWN.index(q["options"]["ABCD".index(a)])]
        out.append({"id": qid, "slot": f"s0{qid[1]}", "type": q["type"], "correct": right,
                    "points": float(POINTS[qid]) if right else 0.0, "max_points": float(POINTS[qid]),
                    "answer": a, "key": KEYS[qid], "stem": q["stem"]})
    return out


@pytest.fixture()
def url(tmp_path):
    (tmp_path / "data").mkdir()
    url = f"sqlite:///{tmp_path / 'data' / 'records.sqlite'}"
    migrate.upgrade(url)
    t0 = datetime(2026, 11, 2, 9, 0)
    with session_scope(url) as s:
        unit = Unit(path="测试市", name="测试市", level=0)
        s.add(unit)
        for cid in (COURSE, "other_course"):
            s.add(Course(id=cid, title="题目分析测试课", hours=1, audiences=[], published_at=t0,
                         meta={"trainers": ["trainer1"]} if cid == COURSE else {}))
        s.flush()
        s.add(Assessment(course_id=COURSE, assignment="module", max_score=10))
        people = {}
        for u in [*ANSWERS, "L11"]:
            people[u] = Learner(username=u.lower(), name=u, unit=unit, audience=Audience.cadre,
                                role=Role.learner)
            s.add(people[u])
        s.flush()

        def result(u, attempt, details, outcome="ok", course=COURSE, minutes=0, store_answer=True):
            score = sum(d["points"] for d in details)
            r = Result(learner_id=people[u].id, course_id=course, assignment="module", attempt=attempt,
                       score=score, max_score=10.0, passed=score >= 6, outcome=outcome, details=details,
                       submitted_at=t0 + timedelta(minutes=minutes))
            for d in details:
                r.items.append(ItemResult(course_id=course, question_id=d["id"], points=d["points"],
                                          max_points=d["max_points"], correct=d["correct"],
                                          answer=d["answer"] if store_answer else None, slot=d["slot"]))
            s.add(r)

        # L09: a refused submission first (no details, outcome refused): not counted
        result("L09", 1, [], outcome="refused", minutes=1)
        for i, (u, answers) in enumerate(ANSWERS.items()):
            # L05's answers only in the result details (rows graded before item_results.answer)
            result(u, 2 if u == "L09" else 1, _items(answers, shown_q1=u == "L07"), minutes=10 + i,
                   store_answer=u != "L05")
        s.add(Paper(learner_id=people["L07"].id, course_id=COURSE, assignment="module", attempt=1,
                    token="tok-l07", questions=[{**BANK[0], "options": L07_SHOWN, "key": "A", "slot": "s01"},
                                                *BANK[1:]]))
        # noise
        result("L08", 2, _items(KEYS), minutes=60)
        result("L11", 1, _items(KEYS), outcome="error", minutes=61)
        result("L01", 1, _items({}), course="other_course", minutes=62)
    return url


def by_id(stats):
    return {it.question_id: it for it in stats}


def counts(it):
    return {o.letter: o.count for o in it.options}


def test_facility_discrimination_and_distractors_match_the_hand_computation(url):
    stats = ia.item_analysis(url, COURSE, bank=BANK)
    assert [it.question_id for it in stats] == ["q1", "q2", "q3", "q4"]
    q1, q2, q3, q4 = (by_id(stats)[q] for q in ("q1", "q2", "q3", "q4"))
    assert all(it.n == 10 for it in stats)

    assert q1.facility == pytest.approx(0.5)
    assert (q1.upper_facility, q1.lower_facility) == (pytest.approx(1), pytest.approx(0))
    assert q1.discrimination == pytest.approx(1)
    assert counts(q1) == {"A": 3, "B": 1, "C": 5, "D": 0}
    assert [o.letter for o in q1.options if o.correct] == ["C"]
    assert q1.unpicked == ["D"] and q1.flags == [ia.FLAG_UNPICKED]

    assert q2.facility == pytest.approx(0.4)
    assert q2.discrimination == pytest.approx(2 / 3)
    assert counts(q2) == {"A": 7, "B": 6, "C": 3, "D": 2}
    assert q2.flags == []

    assert q3.facility == pytest.approx(1) and q3.discrimination == pytest.approx(0)
    assert q3.options == [] and q3.flags == [ia.FLAG_NONE_WRONG]

    assert q4.facility == pytest.approx(0.5)
    assert (q4.upper_facility, q4.lower_facility) == (pytest.approx(1 / 3), pytest.approx(1))
    assert q4.discrimination == pytest.approx(-2 / 3)
    assert counts(q4) == {"A": 5, "B": 2, "C": 2, "D": 1}
    assert q4.flags == [ia.FLAG_NEGATIVE_D]

    # the stem text, not only an id, and the bank's metadata
    assert q1.stem == BANK[0]["stem"] and q1.legal_basis.startswith("《") and q1.difficulty == "易"


def test_flags_need_five_answers(url):
    # the same data restricted to four learners' first attempts: no 无人答错 nor 无人选择 flag
    with session_scope(url) as s:
        for r in s.query(Result).join(Learner).filter(Learner.username.in_(
                ["l01", "l02", "l03", "l04", "l05", "l06"])):
            s.delete(r)
    stats = by_id(ia.item_analysis(url, COURSE, bank=BANK))
    assert stats["q3"].n == 4 and stats["q3"].facility == pytest.approx(1)
    assert ia.FLAG_NONE_WRONG not in stats["q3"].flags
    assert stats["q1"].unpicked and ia.FLAG_UNPICKED not in stats["q1"].flags


def write_notebook(root):
    nb_dir = root / "source" / "module"
    nb_dir.mkdir(parents=True)
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell(
        'import widgets as xf\nxf.SingleChoice(id="q1", stem="笔记本里的题干", '
        'options=["甲", "乙", "丙", "丁"], points=4)'))
    nb.cells.append(nbformat.v4.new_code_cell('xf.grade("q1", "C", "解析", points=4)'))
    nbformat.write(nb, str(nb_dir / "assessment.ipynb"))


def test_stems_come_from_the_fixed_assessment_notebook(url, tmp_path):
    root = tmp_path / "course_root"
    write_notebook(root)
    stats = by_id(ia.item_analysis(url, COURSE, course_root=root))
    assert stats["q1"].stem == "笔记本里的题干"
    assert counts(stats["q1"]) == {"A": 3, "B": 1, "C": 5, "D": 0}
    # graded questions the notebook no longer holds are still reported, without a stem
    assert stats["q4"].n == 10 and stats["q4"].stem == ""


def test_stems_come_from_the_published_bank(url, tmp_path):
    pytest.importorskip("grading.content.bank")
    import yaml

    root = tmp_path / "course_root"
    root.mkdir()
    (root / "bank.yaml").write_text(yaml.safe_dump({"questions": BANK}, allow_unicode=True),
                                    encoding="utf-8")
    stats = by_id(ia.item_analysis(url, COURSE, course_root=root))
    assert stats["q2"].stem == "以下哪些正确？" and counts(stats["q2"])["A"] == 7


def test_xlsx_export_is_formula_safe(url, tmp_path):
    path = ia.write_xlsx(ia.item_analysis(url, COURSE, bank=BANK), tmp_path / "items.xlsx", title="测试课")
    wb = openpyxl.load_workbook(path)
    ws = wb["题目分析"]
    header = [c.value for c in ws[3]]
    assert header[:3] == ["题号", "题型", "题干"] and "区分度（D）" in header
    row = {h: c for h, c in zip(header, ws[4])}
    assert row["题号"].value == "q1"
    # a stem starting with "=" stays text
    assert row["题干"].value == BANK[0]["stem"] and row["题干"].data_type == "s"
    assert row["得分率"].value == pytest.approx(0.5)
    assert "无人选择的干扰项（D）" in row["提示"].value
    opts = [[c.value for c in r] for r in wb["选项分布"].iter_rows(min_row=2)]
    assert ["q1", "D", "丁", 0, None] in opts and ["q1", "C", "丙", 5, "是"] in opts


def test_report_items_command(url, tmp_path):
    from hub_config.cli import main

    data = tmp_path / "data"
    write_notebook(data / "courses" / COURSE)
    out = tmp_path / "out.xlsx"
    r = CliRunner().invoke(main, ["report", "items", COURSE, "--xlsx", str(out), "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    assert "笔记本里的题干" in r.output and "高分组反而答错" in r.output, r.output
    assert openpyxl.load_workbook(out)["题目分析"]["A4"].value == "q1"
    r = CliRunner().invoke(main, ["report", "items", "no_such_course", "--data-dir", str(data)])
    assert r.exit_code != 0 and "没有找到课程" in r.output


def run_page(monkeypatch, data, viewer: dict | None, query: str) -> str:
    """The trainers' Voila page executed as the service runs it (the viewer and query string in
    the kernel's environment, as Voila passes them); returns every output's text and HTML."""
    import json
    from pathlib import Path

    from nbclient import NotebookClient

    from hub_config.dashboards_service import NOTEBOOKS, TRAINER_PAGE, VIEWER_ENV

    monkeypatch.setenv("XUEFA_DATA_DIR", str(data))
    monkeypatch.delenv("XUEFA_RECORDS_DB_URL", raising=False)
    monkeypatch.delenv("XUEFA_DASHBOARDS_DB_URL", raising=False)
    monkeypatch.setenv("QUERY_STRING", query)
    if viewer is None:
        monkeypatch.delenv(VIEWER_ENV, raising=False)
    else:
        monkeypatch.setenv(VIEWER_ENV, json.dumps(viewer))
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    nb = nbformat.read(str(NOTEBOOKS / TRAINER_PAGE), as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            assert o.get("output_type") != "error", o
            data_ = o.get("data", {})
            out.append(str(data_.get("text/html", "")) + str(data_.get("text/plain", "")) + o.get("text", ""))
    return "\n".join(out)


def test_dashboard_page_shows_a_course_to_its_trainer_and_nothing_to_others(url, tmp_path, monkeypatch):
    data = tmp_path / "data"
    write_notebook(data / "courses" / COURSE)
    shown = run_page(monkeypatch, data, {"name": "trainer1", "admin": False}, f"course={COURSE}")
    assert "题目分析" in shown and "笔记本里的题干" in shown and "高分组反而答错" in shown
    assert "共 10 人" in shown and "Traceback" not in shown

    # (the service refuses a course the trainer does not teach before the page runs; the page
    # checks again and never echoes the asked value)
    shown = run_page(monkeypatch, data, {"name": "trainer2", "admin": False}, "course=<b>x</b>")
    assert "您还没有可以查看的课程" in shown and "<b>x</b>" not in shown
    assert "笔记本里的题干" not in shown


def test_trainers_are_refused_every_other_page_and_course(url):
    from hub_config.dashboards_service import trainer_refusal

    p = "/services/dashboards/"

    def refused(path, query="", user="trainer1"):
        return trainer_refusal(p + path, query, user, prefix=p, url=url) is not None

    assert not refused("voila/render/course_items.ipynb", f"course={COURSE}")
    assert not refused("voila/render/course_items.ipynb")  # the page lists their own courses
    assert not refused("voila/render/course%5Fitems.ipynb", f"course={COURSE}")
    assert not refused("api/kernels/0f1e2d3c-0000-4000-8000-000000000000/channels")
    assert refused("voila/render/course_items.ipynb", f"course={COURSE}", user="trainer2")
    assert refused("voila/render/course_items.ipynb", f"course={COURSE}&course=other_course")
    assert refused("voila/render/course_items.ipynb", "course=no_such")
    for page in ("overview.ipynb", "items.ipynb", "overview%2Eipynb", "by_unit.ipynb"):
        assert refused(f"voila/render/{page}", "campaign=x"), page
    assert refused("") and refused("voila/tree") and refused("voila/api/contents/")
