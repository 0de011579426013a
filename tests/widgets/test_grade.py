"""xf.grade: scores what the learner saved, reports what is wrong, never raises."""

from __future__ import annotations

import json

import pytest

import widgets as xf

OPTS = ["甲", "乙", "丙", "丁"]


@pytest.fixture
def quiz(assessment, nb):
    xf.SingleChoice(id="q1", options=OPTS, points=2)
    xf.MultipleChoice(id="q2", options=OPTS, points=4, partial="subset")
    xf.TrueFalse(id="q3")
    xf.FillBlank(id="q4", stem="____", points=2)
    xf.Ordering(id="q5", options=OPTS)
    xf.CaseAnalysis(id="q6", scenario="…", questions=[
        dict(type="single", id="a", options=["x", "y"], points=2),
        dict(type="truefalse", id="b", points=1)])
    return nb.with_name("assessment.answers.json")


KEYS = {"q1": "B", "q2": "ACD", "q3": True, "q4": [["六十日", "60日"]], "q5": "DCBA",
        "q6": {"a": "B", "b": False}}


def grade_all():
    return {qid: xf.grade_item(qid, key=k, explanation="解析", legal_basis="某法第一条")
            for qid, k in KEYS.items()}


def write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False),
                    encoding="utf-8")


def test_full_partial_and_zero(quiz):
    write(quiz, {"q1": "B", "q2": "ACD", "q3": True, "q4": ["６０日"], "q5": "DCBA",
                 "q6": {"a": "B", "b": False}})
    items = grade_all()
    assert {k: v["points"] for k, v in items.items()} == {
        "q1": 2, "q2": 4, "q3": 1, "q4": 2, "q5": 1, "q6": 3}
    assert all(v["correct"] for v in items.values())
    it = items["q1"]
    assert set(it) >= {"id", "type", "correct", "points", "max_points", "legal_basis",
                       "explanation", "answer", "key"}
    assert it["type"] == "single" and it["key"] == "B" and it["explanation"] == "解析"
    json.dumps(items)  # the display payload must be JSON

    write(quiz, {"q1": "A", "q2": "AC", "q6": {"a": "B"}})
    items = grade_all()
    assert items["q1"]["points"] == 0 and items["q2"]["points"] == 2
    assert items["q6"]["points"] == 2 and items["q3"]["points"] == 0


def test_empty_submission_scores_zero(quiz):
    assert not quiz.exists()
    assert sum(v["points"] for v in grade_all().values()) == 0


@pytest.mark.parametrize("content", ["{broken", "[1, 2]", "", "\x00\xff", "null"])
def test_corrupt_file_scores_zero_and_reports(quiz, content):
    write(quiz, content)
    items = grade_all()
    assert all(v["points"] == 0 for v in items.values())
    assert all(v.get("problems") for v in items.values())


def test_hand_edited_file_scores_what_is_valid(quiz):
    write(quiz, {"q1": "B", "q2": 42, "q3": "对", "q4": {"x": 1}, "q5": "AAAA", "zzz": 1,
                 "q6": {"a": "B", "b": "maybe"}})
    items = grade_all()
    assert items["q1"]["points"] == 2 and "problems" not in items["q1"]
    assert items["q2"]["points"] == 0 and items["q2"]["problems"]
    assert items["q3"]["points"] == 1
    assert items["q4"]["points"] == 0 and items["q4"]["problems"]
    assert items["q5"]["points"] == 0 and items["q5"]["problems"]
    assert items["q6"]["points"] == 2 and items["q6"]["problems"]


def test_question_cell_missing_is_inferred(assessment, nb):
    write(nb.with_name("assessment.answers.json"), {"lost": "C", "tf": False})
    it = xf.grade_item("lost", key="C", points=3)
    assert it["points"] == 3 and it["problems"]
    assert xf.grade_item("tf", key=False)["points"] == 1


def test_bad_key_never_raises(quiz):
    write(quiz, {"q1": "B"})
    it = xf.grade_item("q1", key="Z")
    assert it["points"] == 0 and it["problems"]
    assert xf.grade("q1", key="Z") == 0.0


def test_grade_returns_float_points(quiz):
    write(quiz, {"q2": "AC"})
    assert xf.grade("q2", key="ACD") == 2.0
    assert isinstance(xf.grade("q1", key="B"), float)


def test_practice_key_from_question(practice, nb):
    xf.SingleChoice(id="p1", options=OPTS, key="C", explanation="因为……", legal_basis="某法")
    write(nb.with_name("assessment.answers.json"), {"p1": "C"})
    it = xf.grade_item("p1")
    assert it["points"] == 1 and it["explanation"] == "因为……" and it["legal_basis"] == "某法"
