"""Question widgets: answers as traits, persistence round-trip, per-learner shuffling."""

from __future__ import annotations

import json

import widgets as xf
from widgets.answers import load_answers

OPTS = ["行政机关", "人民法院", "人民检察院", "监察委员会", "人大常委会"]


def saved(nb):
    return json.loads(nb.with_name("assessment.answers.json").read_text(encoding="utf-8"))


def build_all():
    return {
        "q1": xf.SingleChoice(id="q1", stem="单选", options=OPTS, points=2),
        "q2": xf.MultipleChoice(id="q2", stem="多选", options=OPTS, points=2, partial="subset"),
        "q3": xf.TrueFalse(id="q3", stem="判断"),
        "q4": xf.FillBlank(id="q4", stem="期限为____，机关为____"),
        "q5": xf.Ordering(id="q5", stem="排序", options=["申请", "受理", "审理", "决定"]),
        "q6": xf.CaseAnalysis(id="q6", scenario="案情", questions=[
            xf.SingleChoice(id="a", stem="小题一", options=["对", "错", "不确定"]),
            dict(type="fill", id="b", stem="小题二 ____", blanks=1),
        ]),
        "q7": xf.Essay(id="q7", stem="简答", rubric="要点"),
    }


def answer_all(w):
    w["q1"].choice.value = "B"
    for L in "AC":
        w["q2"].boxes[L].value = True
    w["q3"].choice.value = False
    w["q4"].texts[0].value = "六十日"
    w["q4"].texts[1].value = "复议机关"
    w["q5"].move(0, 1)
    w["q6"].subs["a"].choice.value = "C"
    w["q6"].subs["b"].texts[0].value = "司法确认"
    w["q7"].text.value = "依法行政的要求是……"


def test_every_change_is_saved_and_restored(assessment, nb):
    w = build_all()
    answer_all(w)
    data = saved(nb)
    assert data["q1"] == "B" and data["q2"] == "AC" and data["q3"] is False
    assert data["q4"] == ["六十日", "复议机关"]
    assert sorted(data["q5"]) == list("ABCD")
    assert data["q6"] == {"a": "C", "b": ["司法确认"]}
    assert data["q7"].startswith("依法行政")
    assert "a" not in data and "b" not in data  # sub-questions live inside the case

    # a kernel restart: a new session and new widgets show the same answers
    xf.setup(course="demo", mode="assessment", notebook=nb, username="ganbu1", events=False)
    w2 = build_all()
    for qid in w:
        assert w2[qid].answer == w[qid].answer, qid
    assert w2["q1"].choice.value == "B"
    assert w2["q2"].boxes["C"].value and not w2["q2"].boxes["B"].value
    assert w2["q4"].texts[1].value == "复议机关"
    assert w2["q6"].subs["b"].texts[0].value == "司法确认"
    assert w2["q7"].text.value.startswith("依法行政")
    # restoring does not rewrite the file
    assert saved(nb) == data


def test_clearing_an_answer_removes_it(assessment, nb):
    m = xf.MultipleChoice(id="m", options=OPTS)
    m.boxes["A"].value = True
    assert saved(nb) == {"m": "A"}
    m.boxes["A"].value = False
    assert saved(nb) == {}


def orders(nb, user):
    xf.setup(course="demo", mode="assessment", notebook=nb, username=user, events=False)
    return [tuple(v for _l, v in xf.SingleChoice(id=f"s{i}", options=OPTS).choice.options)
            for i in range(8)]


def test_shuffle_is_per_learner_and_stable(nb):
    a1, a2, b = orders(nb, "ganbu1"), orders(nb, "ganbu1"), orders(nb, "zhengfa1")
    assert a1 == a2
    assert a1 != b
    assert any(o != tuple("ABCDE") for o in a1)
    # labels are numbered by position, values are the author's letters
    xf.setup(course="demo", mode="assessment", notebook=nb, username="ganbu1", events=False)
    s = xf.SingleChoice(id="s0", options=OPTS)
    labels = [label for label, _v in s.choice.options]
    assert [label[0] for label in labels] == list("ABCDE")
    shown_first = s.choice.options[0]
    s.choice.value = shown_first[1]
    assert saved(nb)["s0"] == shown_first[1]
    assert shown_first[0].endswith(OPTS["ABCDE".index(shown_first[1])])


def test_practice_is_not_shuffled_and_gives_feedback(practice, nb):
    s = xf.SingleChoice(id="p1", stem="谁审理行政案件？", options=OPTS, key="B",
                        explanation="人民法院依法审理行政案件。",
                        legal_basis="《中华人民共和国行政诉讼法》第三条")
    assert [v for _l, v in s.choice.options] == list("ABCDE")
    s.check()
    assert "请先作答" in s.feedback.value
    s.choice.value = "A"
    s.check_button.click()
    assert "回答错误" in s.feedback.value and "行政诉讼法》第三条" in s.feedback.value
    s.choice.value = "B"
    assert s.feedback.value == ""  # a new answer clears old feedback
    s.check_button.click()
    assert "回答正确" in s.feedback.value and "解析" in s.feedback.value
    assert s.tries == 2


def test_assessment_shows_no_feedback(assessment):
    s = xf.SingleChoice(id="x1", options=OPTS)
    assert not hasattr(s, "check_button")
    s.choice.value = "A"
    assert s.feedback.value == ""
    assert "已自动保存" in s.status.value


def test_ordering_never_starts_on_the_key(practice):
    for i in range(20):
        o = xf.Ordering(id=f"o{i}", options=["a", "b", "c"], key="ABC")
        assert "".join(o.order) != "ABC"
        assert o.answer is None  # untouched order is not an answer
        o.confirm.click()
        assert o.answer == "".join(o.order)


def test_case_practice_feedback(practice):
    c = xf.CaseAnalysis(id="c1", scenario="张某……", questions=[
        xf.TrueFalse(id="a", stem="合法吗", key=False, explanation="违反法定程序"),
        xf.SingleChoice(id="b", stem="应向谁申请", options=["甲", "乙"], key="A"),
    ])
    assert c.question.key == {"a": False, "b": "A"} and c.question.max_points == 2
    c.subs["a"].choice.value = False
    c.subs["b"].choice.value = "B"
    c.check()
    assert "部分正确" in c.feedback.value
    assert "回答正确" in c.subs["a"].feedback.value and "回答错误" in c.subs["b"].feedback.value


def test_corrupt_file_is_kept_aside_and_widgets_still_work(assessment, nb):
    f = nb.with_name("assessment.answers.json")
    f.write_text("{not json", encoding="utf-8")
    s = xf.SingleChoice(id="q1", options=OPTS)
    assert s.answer is None
    s.choice.value = "C"
    assert saved(nb) == {"q1": "C"}
    kept = list(nb.parent.glob("assessment.answers.json.corrupt-*"))
    assert kept and kept[0].read_text() == "{not json"


def test_invalid_saved_answer_is_ignored_on_restore(assessment, nb):
    nb.with_name("assessment.answers.json").write_text(
        json.dumps({"q1": "Z", "q2": 5, "q3": "对"}), encoding="utf-8")
    assert xf.SingleChoice(id="q1", options=OPTS).answer is None
    assert xf.MultipleChoice(id="q2", options=OPTS).answer is None
    assert xf.TrueFalse(id="q3").answer is True
    answers, problems = load_answers(nb.with_name("assessment.answers.json"))
    assert answers["q1"] == "Z" and not problems


def test_widgets_fit_a_phone(assessment):
    w = build_all()
    for qw in w.values():
        assert qw.layout.width == "100%"
        for child in qw.children:
            assert child.layout.width in (None, "100%", "auto")
