"""Scoring of every question type: full, partial (where configured) and zero credit."""

from __future__ import annotations

import pytest

from widgets.model import Question, normalise_text, score


def q(type, **kw):
    kw.setdefault("id", "q1")
    return Question(type=type, **kw)


def test_single_full_and_zero():
    s = q("single", options=list("abcd"), key="b", points=2)
    assert score(s, "B").points == 2 and score(s, "B").correct
    assert score(s, "C").points == 0 and not score(s, "C").correct
    assert score(s, None).points == 0


@pytest.mark.parametrize("partial,answer,expected", [
    ("none", "ACD", 4), ("none", "AC", 0), ("none", "ABC", 0),
    ("subset", "AC", 2), ("subset", "ABC", 0), ("subset", "ACD", 4),
    ("proportional", "A", 4 / 3), ("proportional", "AC", 8 / 3), ("proportional", "AB", 0),
    (True, "AD", 2), (False, "AD", 0),
])
def test_multiple_partial_policies(partial, answer, expected):
    m = q("multiple", options=list("abcd"), key="DCA", points=4, partial=partial)
    assert m.key == "ACD"
    assert score(m, answer).points == pytest.approx(expected, abs=1e-3)
    assert score(m, "").points == 0


def test_truefalse():
    t = q("truefalse", key=False)
    assert score(t, False).correct and score(t, False).points == 1
    assert score(t, True).points == 0
    assert score(t, "错").points == 1  # hand-edited file


def test_fill_variants_width_and_whitespace():
    f = q("fill", key=[["六十日", "60日"], ["行政复议机关"]], points=2)
    assert score(f, ["６０ 日", " 行政复议 机关"]).points == 2
    assert score(f, ["60日", "法院"]).points == 0  # all-or-nothing by default
    fp = q("fill", key=[["六十日", "60日"], ["行政复议机关"]], points=2, partial="proportional")
    assert score(fp, ["60日", "法院"]).points == 1
    assert score(fp, ["60日"]).points == 1  # missing blank counts as wrong
    assert normalise_text("ＡＢＣ　１２３") == "abc123"


def test_ordering():
    o = q("ordering", options=list("abcd"), key="cabd", points=3)
    assert score(o, "CABD").points == 3
    assert score(o, "ABCD").points == 0
    op = q("ordering", options=list("abcd"), key="CABD", points=4, partial="proportional")
    assert score(op, "CADB").points == 2


def test_case_sums_sub_questions():
    c = q("case", id="case1", scenario="某县政府……", questions=[
        Question(type="single", id="a", options=["x", "y"], points=2),
        Question(type="truefalse", id="b", points=1),
        Question(type="essay", id="c", points=5),
    ], key={"a": "B", "b": True})
    assert c.max_points == 8
    assert score(c, {"a": "B", "b": True}).points == 3
    assert score(c, {"a": "B", "b": False}).points == 2
    assert score(c, {}).points == 0
    assert score(c, "garbage").points == 0 and score(c, "garbage").problems


def test_essay_is_manual():
    e = q("essay", points=10, rubric="要点")
    s = score(e, "我的回答")
    assert s.correct is None and s.points == 0 and s.max_points == 10


@pytest.mark.parametrize("kw", [
    dict(type="single", options=["a", "b"], key="C"),
    dict(type="multiple", options=["a", "b"], key="AZ"),
    dict(type="ordering", options=["a", "b", "c"], key="AB"),
    dict(type="truefalse", key="yes"),
    dict(type="single", options=["a"]),
    dict(type="single", id="Q-1", options=["a", "b"]),
])
def test_bad_authoring_is_refused(kw):
    kw.setdefault("id", "q1")
    with pytest.raises(ValueError):
        Question(**kw)


@pytest.mark.parametrize("bad", ["Z", 3, ["A"], {"x": 1}, "AB"])
def test_invalid_answers_score_zero_with_a_problem(bad):
    s = q("single", options=list("abcd"), key="B")
    r = score(s, bad)
    assert r.points == 0 and r.problems
