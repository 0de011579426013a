"""The shipped curriculum validates and grades; broken fixture courses fail with clear messages.

The nbgrader tests share one temp course tree per course (generate once, autograde a fully
correct and an empty submission) so the file stays within a few minutes on two cores.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat
import pytest

from grading.content.bank import correct_answers, draw, paper_seed
from grading.content.courses import course_dirs, load_campaign_file, load_course
from grading.exchange.nbconfig import nbgrader_api
from grading.content.validate import (
    answer_key,
    bank_leaks,
    check_layout,
    check_nbgrader,
    check_yaml,
    course_context,
    release_leaks,
    validate_campaign,
    validate_course,
)

ROOT = Path(__file__).resolve().parents[2]
COURSES = course_dirs(ROOT / "courses")
FIXTURES = Path(__file__).parent / "fixtures"
REQUIRED = {"fazhi_zhengfu", "xingzheng_zhifa", "jiceng_zhili", "weichengnian", "tiaojie",
            "falv_yuanzhu", "shufa", "pingtai_rumen"}


def test_curriculum_is_complete():
    ids = {d.name for d in COURSES}
    assert REQUIRED <= ids
    for d in COURSES:
        spec = load_course(d)
        assert len(spec.lessons) >= 2, d.name
        assert spec.laws, d.name


@pytest.mark.parametrize("course", COURSES, ids=lambda p: p.name)
def test_shipped_course_static_checks(course):
    assert [str(p) for p in validate_course(course, execute=False)] == []


def test_demo_campaign():
    path = ROOT / "courses" / "campaigns" / "xuexiyue_2026.yaml"
    assert validate_campaign(path) == []
    spec = load_campaign_file(path)
    from datetime import date

    assert spec.start <= date(2026, 11, 29) <= spec.end
    assert spec.name == "2026 干部学习月"


BROKEN = {
    "missing_key": ("source/module/assessment.ipynb", 8, "q03.key", "缺少标准答案"),
    "duplicate_id": ("source/module/lesson1.ipynb", 6, "l1_01.id", "重复"),
    "key_leak": ("source/module/assessment.ipynb", 6, "q02.key", "BEGIN HIDDEN TESTS"),
    "points_mismatch": ("course.yaml", None, "points", "90"),
    "bad_yaml": ("course.yaml", None, "", "YAML 语法错误 第 6 行"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_fixture_is_named_precisely(name):
    file, cell, field, text = BROKEN[name]
    problems = validate_course(FIXTURES / name, execute=False)
    assert problems, name
    hits = [p for p in problems if p.file == f"{name}/{file}" and p.cell == cell and p.field == field]
    assert hits, [str(p) for p in problems]
    assert text in hits[0].message
    assert name in str(hits[0]) and (file.split("/")[-1] in str(hits[0]))


def test_full_validate_runs_every_notebook():
    """All checks, including running each notebook with nbclient and nbgrader generate."""
    assert [str(p) for p in validate_course(ROOT / "courses" / "pingtai_rumen")] == []


def test_key_leak_is_caught_in_the_release_itself():
    """Even without the static rule, the generated learner version is scanned for grading code."""
    problems = validate_course(FIXTURES / "key_leak", checks=[check_yaml, check_layout, check_nbgrader])
    assert any(p.field == "release" and p.cell == 6 for p in problems), [str(p) for p in problems]


# --- nbgrader: full marks for a correct submission, zero for an empty one -----------------------


@pytest.fixture(scope="module")
def nbgrader_tree(tmp_path_factory):
    return tmp_path_factory.mktemp("nbgrader")


def _submit(api_root: Path, student: str, answers: dict, essays: dict, paper: dict | None = None) -> None:
    sub = api_root / "submitted" / student / "module"
    shutil.copytree(api_root / "release" / "module", sub)
    if paper is not None:  # what the grading service puts beside a bank course's answers
        (sub / "assessment.paper.json").write_text(json.dumps(paper, ensure_ascii=False), encoding="utf-8")
    (sub / "assessment.answers.json").write_text(json.dumps({**answers, **essays}, ensure_ascii=False),
                                                 encoding="utf-8")
    if essays:  # what the 提交 widget does before nbgrader submit
        nb = nbformat.read(sub / "assessment.ipynb", as_version=4)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if cell.cell_type == "markdown" and gid in essays:
                cell.source = essays[gid]
        nbformat.write(nb, sub / "assessment.ipynb")


@pytest.mark.parametrize("course", COURSES, ids=lambda p: p.name)
def test_nbgrader_full_marks_and_zero(course, nbgrader_tree):
    from nbgrader.api import Gradebook

    ctx = course_context(course)
    spec = ctx.spec
    root = nbgrader_tree / spec.id
    shutil.copytree(course / "source" / "module", root / "source" / "module")
    for name, info in ctx.generated.items():  # a bank course: the notebook publish generates
        nbformat.write(info.nb, root / "source" / "module" / name)
    db = f"sqlite:///{root / 'gradebook.sqlite'}"
    api = nbgrader_api(root, spec.id, db, root / "exchange")
    res = api.generate_assignment("module")
    assert res["success"], res.get("log")
    assert release_leaks(ctx, root / "release" / "module") == []
    assert bank_leaks(ctx, root / "release" / "module") == []

    if ctx.bank is not None:
        paper = {"token": "t-full", "questions": draw(ctx.bank, spec.blueprint,
                                                        paper_seed(b"test", spec.id, "module", "full", 1))}
        _submit(root, "full", {"__paper__": "t-full", **correct_answers(paper["questions"])}, {}, paper)
        _submit(root, "empty", {"__paper__": "t-full"}, {}, paper)
        essays = {}
    else:
        key = answer_key(course / "source" / "module" / "assessment.ipynb")
        essays = {q.id: "本人全年参加会前学法8次……（述法报告正文）" for q in ctx.notebooks["assessment.ipynb"].questions
                  if q.type == "essay"}
        _submit(root, "full", key, essays)
        _submit(root, "empty", {}, {})

    # one autograde run for both learners, assessment only (lessons are run by the full validate)
    api.coursedir.notebook_id = "assessment"
    res = api.autograde("module", "*")
    assert res["success"], res.get("log")

    with Gradebook(db, spec.id) as gb:
        if essays:  # a trainer grades the essay in formgrader
            for qid in essays:
                g = gb.find_grade(qid, "assessment", "module", "full")
                g.manual_score = g.max_score
            gb.db.commit()
        full = gb.find_submission("module", "full")
        empty = gb.find_submission("module", "empty")
        assert full.max_score == spec.points
        assert full.score == pytest.approx(spec.points), [
            (g.name, g.score, g.max_score) for g in gb.find_submission_notebook("assessment", "module", "full").grades]
        assert empty.score == 0
