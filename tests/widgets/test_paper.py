"""Drawn papers in the kernel: ``xf.Paper`` renders a paper the way the records service sends it
(public questions from the bank's own ``public``), keeps its token in the answers file and
starts a new attempt afresh; ``xf.grade_slot`` scores a slot exactly as ``xf.grade`` does with
the same key; a learner's kernel (no paper file) scores 0 silently; ``shuffle: false`` keeps the
options as written; 提交 shows what the reveal rule allows. Papers are drawn by the real
``grading.content.bank`` from a bank in the real ``bank.yaml`` format."""

from __future__ import annotations

import io
import json
import os
import sys
import urllib.error
from pathlib import Path

import pytest

import widgets as xf
from grading.content.bank import draw, parse_bank, public
from grading.content.courses import CourseSpec
from widgets.paper import PAPER_KEY, Paper, refusal
from widgets.submit import Submit, results_html

LONG = "某县市场监管局在一次联合检查中发现，" * 15  # a stem longer than 200 characters

BANK = {"questions": [
    {"id": "q01", "type": "single", "stem": "未成年人是指未满（  ）周岁的公民。",
     "options": ["十四", "十六", "十八", "二十"], "key": "C", "explanation": "解析一：未满十八周岁",
     "legal_basis": "《中华人民共和国未成年人保护法》第二条", "points": 5, "difficulty": "易",
     "tags": ["未成年人保护法"], "shuffle": False},
    {"id": "q02", "type": "single", "stem": LONG + "应当由哪个机关处理？",
     "options": ["市场监管局", "公安机关", "人民法院", "乡镇政府"], "key": "B",
     "explanation": "解析二：移送公安机关", "legal_basis": "《中华人民共和国行政处罚法》第二十七条",
     "points": 5, "difficulty": "中", "tags": ["行政处罚法"]},
    {"id": "q03", "type": "multiple", "stem": "下列哪些属于行政复议范围？",
     "options": ["行政处罚", "内部人事处分", "行政强制措施", "行政许可"], "key": "ACD",
     "explanation": "解析三：内部处分除外", "legal_basis": "《中华人民共和国行政复议法》第十一条",
     "points": 10, "partial": "subset", "difficulty": "中", "tags": ["行政复议法"]},
    {"id": "q04", "type": "truefalse", "stem": "行政机关负责人应当出庭应诉。", "key": True,
     "explanation": "解析四：负责人出庭", "legal_basis": "《中华人民共和国行政诉讼法》第三条",
     "points": 5, "difficulty": "易", "tags": ["行政诉讼法"]},
    {"id": "q05", "type": "fill", "stem": "申请行政复议的期限一般为____。",
     "key": [["六十日", "60日"]], "explanation": "解析五：六十日",
     "legal_basis": "《中华人民共和国行政复议法》第二十条", "points": 10, "difficulty": "中",
     "tags": ["行政复议法"]},
    {"id": "q06", "type": "ordering", "stem": "请排列行政复议的程序：",
     "options": ["申请", "受理", "审理", "决定"], "key": "ABCD", "explanation": "解析六：程序顺序",
     "legal_basis": "《中华人民共和国行政复议法》第三十条", "points": 10, "difficulty": "难",
     "tags": ["行政复议法"], "shuffle": False},
    {"id": "q07", "type": "case", "scenario": "某镇政府对张某作出罚款决定，张某不服……",
     "questions": [
         {"id": "a", "type": "single", "stem": "张某可以向谁申请复议？",
          "options": ["县政府", "市政府"], "points": 6, "key": "A", "explanation": "解析七甲：县政府"},
         {"id": "b", "type": "truefalse", "stem": "张某只能先复议后起诉。", "points": 4, "key": False,
          "explanation": "解析七乙：可以直接起诉"}],
     "legal_basis": "《中华人民共和国行政复议法》第二十四条", "points": 10, "difficulty": "难",
     "tags": ["行政复议法"]},
]}
SECRETS = ["解析一", "解析二", "解析三", "解析四", "解析五", "解析六", "解析七甲", "解析七乙",
           "六十日", "60日"]
COURSE = {
    "id": "demo", "title": "行政复议测验", "audience": "全体", "hours": 1, "points": 55,
    "lessons": [{"file": "lesson1.ipynb", "title": "第一课"}],
    "assessment": {"file": "assessment.ipynb", "title": "结业测试"},
    "blueprint": {"sections": [
        {"type": "single", "count": 2, "points": 5}, {"type": "multiple", "count": 1, "points": 10},
        {"type": "truefalse", "count": 1, "points": 5}, {"type": "fill", "count": 1, "points": 10},
        {"type": "ordering", "count": 1, "points": 10}, {"type": "case", "count": 1, "points": 10}]},
}
# hand-checked: answers by bank id and the points each earns
ANSWERS = {"q01": "C", "q02": "A", "q03": "AC", "q04": True, "q05": ["６０日"], "q06": "ABDC",
           "q07": {"a": "A", "b": True}}
EXPECTED = {"q01": 5, "q02": 0, "q03": 5, "q04": 5, "q05": 10, "q06": 0, "q07": 6}  # 31 of 55


def drawn(seed: int = 7) -> list[dict]:
    """A paper as grading.content.bank draws it: full questions with their slots."""
    spec = CourseSpec.model_validate(COURSE)
    return draw(parse_bank(BANK), spec.blueprint, seed)


def served(questions: list[dict], token: str = "tok-1", **over) -> dict:
    """The records service's GET api/paper answer for ``questions``."""
    return {"token": token, "attempt": 1, "used": 0, "max": 3, "counts": "best",
            "closes": "2026-12-31T18:00:00+08:00", "next_at": None, "title": "行政复议测验",
            "questions": [public(q) for q in questions]} | over


def answers_file(nb):
    return nb.with_name("assessment.answers.json")


def texts(widget) -> str:
    """Every text a widget tree shows (HTML values, option labels, descriptions)."""
    out = []
    for name in ("value", "description", "placeholder"):
        v = getattr(widget, name, None)
        if isinstance(v, str):
            out.append(v)
    for opt in getattr(widget, "options", ()) or ():
        out.append(str(opt))
    for child in getattr(widget, "children", ()) or ():
        out.append(texts(child))
    return "\n".join(out)


def test_paper_shows_public_questions_and_the_attempt_rules(assessment, nb):
    qs = drawn()
    paper = Paper(served(qs))
    shown = texts(paper)
    assert "第 1 次作答，共 3 次机会" in shown and "成绩按最高一次计" in shown
    assert "截止时间：2026-12-31 18:00" in shown and "本卷共 7 题，满分 55 分" in shown
    for secret in SECRETS:
        assert secret not in shown, secret
    # every question is an ordinary assessment widget, registered under its bank id, in slot order
    sess = xf.current()
    assert list(sess.questions) == [q["id"] for q in qs]
    assert all(q.key is None and not q.explanation for q in sess.questions.values())
    assert shown.index("第 1 题") < shown.index("第 7 题")
    assert json.loads(answers_file(nb).read_text(encoding="utf-8")) == {PAPER_KEY: "tok-1"}


def test_new_token_clears_the_previous_attempt_same_token_keeps_answers(assessment, nb):
    qs = drawn()
    Paper(served(qs))
    sess = xf.current()
    sess.widgets["q01"].choice.value = "B"
    sess.widgets["q04"].choice.value = False
    assert json.loads(answers_file(nb).read_text(encoding="utf-8")) == {
        PAPER_KEY: "tok-1", "q01": "B", "q04": False}

    # a reload of the same attempt (same token): the answers come back into the widgets
    xf.setup(course="demo", mode="assessment", notebook=nb, username="ganbu1", events=False)
    Paper(served(qs))
    sess = xf.current()
    assert sess.widgets["q01"].answer == "B" and sess.widgets["q04"].answer is False

    # the next attempt (new token): nothing of the old attempt is shown or kept
    xf.setup(course="demo", mode="assessment", notebook=nb, username="ganbu1", events=False)
    Paper(served(drawn(8), token="tok-2", attempt=2, used=1))
    sess = xf.current()
    assert json.loads(answers_file(nb).read_text(encoding="utf-8")) == {PAPER_KEY: "tok-2"}
    assert all(w.answer is None for w in sess.widgets.values())


def test_shuffle_false_keeps_options_in_written_order(assessment):
    written = list("ABCD")
    orders = {}
    for user in ("ganbu1", "ganbu2", "ganbu3", "ganbu4", "ganbu5"):
        xf.current().username = user
        ordered = xf.SingleChoice(id="q01", options=["十四", "十六", "十八", "二十"], shuffle=False)
        free = xf.SingleChoice(id="q09", options=["甲", "乙", "丙", "丁"])
        assert ordered.ordered_letters() == written
        assert [v for _label, v in ordered.choice.options] == written
        orders[user] = "".join(free.ordered_letters())
    assert len(set(orders.values())) > 1  # the others are still shuffled per learner

    # from a paper: the bank's shuffle: false reaches the widget; a case passes it to its subs
    xf.current().username = "ganbu2"
    Paper(served(drawn()))
    w = xf.current().widgets
    assert w["q01"].ordered_letters() == written and w["q01"].shuffle is False
    assert w["q02"].shuffle is True
    case = xf.CaseAnalysis(id="c1", scenario="…", shuffle=False, questions=[
        dict(type="single", id="a", options=["一日", "三日", "七日", "十日"])])
    assert case.subs["a"].ordered_letters() == written


def write_paper_file(nb, questions, token="tok-1"):
    nb.with_name("assessment.paper.json").write_text(
        json.dumps({"token": token, "questions": questions}, ensure_ascii=False), encoding="utf-8")


def test_grade_slot_scores_exactly_as_grade_with_the_same_key(assessment, nb):
    qs = drawn()
    write_paper_file(nb, qs)
    answers_file(nb).write_text(json.dumps({PAPER_KEY: "tok-1", **ANSWERS}, ensure_ascii=False),
                                encoding="utf-8")
    before = answers_file(nb).read_bytes()
    paper = Paper()  # the grading kernel: from the paper file, no network
    assert paper.from_file and answers_file(nb).read_bytes() == before
    assert list(xf.current().questions) == [q["id"] for q in qs]

    from widgets.grade import slot_item

    for q in qs:
        item = slot_item(q["slot"])
        key = q.get("key") if q["type"] != "case" else {s["id"]: s["key"] for s in q["questions"]}
        same = xf.grade_item(q["id"], key=key, partial=q.get("partial"), points=q["points"])
        for field in ("id", "type", "correct", "points", "max_points", "answer", "key"):
            assert item[field] == same[field], (q["id"], field, item[field], same[field])
        assert item["points"] == EXPECTED[q["id"]], q["id"]
        assert item["slot"] == q["slot"] and item["stem"] == (q.get("stem") or q["scenario"])[:200]
        assert item["legal_basis"] == q["legal_basis"] and item["explanation"]
        assert "problems" not in item, item
        assert xf.grade_slot(q["slot"]) == EXPECTED[q["id"]]
    assert len(slot_item(next(q["slot"] for q in qs if q["id"] == "q02"))["stem"]) == 200
    assert "解析七甲" in slot_item(next(q["slot"] for q in qs if q["type"] == "case"))["explanation"]


def test_learner_kernel_without_paper_file_scores_zero_silently(assessment, nb, capsys):
    answers_file(nb).write_text(json.dumps(ANSWERS, ensure_ascii=False), encoding="utf-8")
    assert xf.grade_slot("s01") == 0.0
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_broken_paper_file_or_foreign_answers_score_zero_and_say_why(assessment, nb, capsys):
    from widgets.grade import slot_item

    nb.with_name("assessment.paper.json").write_text("{not json", encoding="utf-8")
    item = slot_item("s01")
    assert item["points"] == 0 and item["slot"] == "s01" and "试卷文件无法读取" in " ".join(item["problems"])
    assert xf.grade_slot("s01") == 0.0
    assert capsys.readouterr().err == ""

    qs = drawn()
    write_paper_file(nb, qs, token="tok-1")
    answers_file(nb).write_text(json.dumps({PAPER_KEY: "tok-other", **ANSWERS}), encoding="utf-8")
    item = slot_item("s01")
    assert item["points"] == 0 and "另一份试卷" in " ".join(item["problems"])
    assert slot_item("s99")["problems"] == ["试卷中没有第 s99 题"]


def http_error(code: int, body: dict) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://records/api/paper", code, "x", {},
                                  io.BytesIO(json.dumps(body, ensure_ascii=False).encode()))


def test_refused_paper_shows_the_chinese_reason_and_submit_is_off(assessment, nb, monkeypatch):
    monkeypatch.delenv("XUEFA_RECORDS_URL", raising=False)
    for k in ("JUPYTERHUB_PUBLIC_URL", "JUPYTERHUB_HOST", "JUPYTERHUB_API_URL"):
        monkeypatch.delenv(k, raising=False)
    paper = Paper()  # not on the platform: says so, no questions
    assert paper.refused is not None and "不在平台环境中运行" in paper.info.value
    paper.refuse(refusal(http_error(403, {"error": "您已用完全部 3 次考试机会。", "reason": "exhausted"})))
    assert "考试机会已用完" in paper.info.value and "您已用完全部 3 次考试机会。" in paper.info.value
    assert paper.body.children == () and not xf.current().questions
    submit = Submit()
    assert submit.button.disabled and "您已用完全部 3 次考试机会" in submit.status.value

    r = refusal(http_error(404, {"error": "本课程的测试不是随机组卷，没有个人试卷。"}))
    assert r["code"] == 404 and r["error"].startswith("本课程的测试不是随机组卷")
    r = refusal(http_error(502, {}))
    assert "暂时无法获取试卷" in r["error"]
    paper.refuse(refusal(http_error(403, {"error": "<b>请于 10:00 后再试</b>", "reason": "cooldown"})))
    assert "&lt;b&gt;" in paper.info.value and paper.retry_button.layout.display is None
    # the cool-down is over: 重新获取试卷 brings the paper, and 提交 is on again
    assert paper.load(served(drawn()))
    assert not submit.button.disabled and submit.status.value == ""


ITEMS = [{"id": "q01", "slot": "s01", "stem": "未成年人是指……", "type": "single", "correct": True,
          "points": 5, "max_points": 5, "answer": "C"},
         {"id": "q02", "slot": "s02", "stem": "应当由哪个机关处理？", "type": "single", "correct": False,
          "points": 0, "max_points": 5, "answer": "A"}]


def result(reveal, details, **over):
    return {"attempt": 1, "score": 5, "max_score": 10, "passed": False, "outcome": "ok",
            "message": "", "details": details, "reveal": reveal} | over


def test_results_follow_the_reveal_level():
    keyed = [dict(ITEMS[1], key="B", explanation="解析二：移送公安机关", legal_basis="某法第二十七条")]
    html = results_html([result("score", [])])
    assert "5 / 10 分" in html and "本次只公布总分" in html and "答错" not in html
    html = results_html([result("wrong", ITEMS)])
    assert "答错的题" in html and "第 2 题 应当由哪个机关处理？" in html and "第 1 题" not in html
    assert "正确答案：" not in html and "暂不公布" in html
    html = results_html([result("key", keyed)])
    assert "正确答案：B" in html and "解析二" in html and "某法第二十七条" in html
    refused = result("wrong", [], outcome="refused", score=0,
                     message="您已用完全部 3 次考试机会，本次提交未计分。")
    html = results_html([refused], attempts={"used": 3, "max": 3})
    assert "未计分" in html and "您已用完全部 3 次考试机会" in html and "考试机会已用完" in html
    html = results_html([result("wrong", ITEMS)], attempts={"used": 1, "max": 3})
    assert "已提交 1/3 次；还可提交 2 次" in html


def test_submit_offers_the_next_attempt_after_a_graded_one(assessment, nb):
    Paper(served(drawn()))
    s = Submit()
    assert not s.button.disabled and s.again_button.layout.display == "none"
    s.show_answer({"results": [result("wrong", ITEMS)], "attempts": {"used": 1, "max": 3}})
    assert s.again_button.layout.display is None and "还可提交 2 次" in s.results.value
    s.show_answer({"results": [result("key", ITEMS)], "attempts": {"used": 3, "max": 3}})
    assert s.again_button.layout.display == "none" and "考试机会已用完" in s.results.value
    # a stale paper (answered in another tab after a later attempt) is refused: fetch the current
    stale = result("wrong", [], outcome="refused", message="试卷已失效……本次提交未计分。")
    s.show_answer({"results": [stale], "attempts": {"used": 1, "max": 3}})
    assert s.again_button.layout.display is None and "试卷已失效" in s.results.value
    s.show_answer({"results": [result("wrong", [], outcome="error")], "attempts": {"used": 1, "max": 3}})
    assert s.again_button.layout.display == "none"


@pytest.mark.parametrize("counts,text", [("best", "最高一次"), ("last", "最后一次")])
def test_attempt_rules_text(counts, text):
    from widgets.paper import attempt_html

    html = attempt_html({"attempt": 2, "max": 3, "counts": counts, "closes": "2026-12-31T10:00:00Z",
                         "next_at": "2026-12-03T20:30:00+08:00"})
    assert "第 2 次作答，共 3 次机会" in html and text in html
    assert "截止时间：2026-12-31 18:00" in html and "下次可提交时间：2026-12-03 20:30" in html


# --- end to end through real nbgrader -------------------------------------------------------

def move_to(w, target: str) -> None:
    """Press ↑ on an ordering question like a learner until it shows ``target``."""
    for i, L in enumerate(target):
        j = w.order.index(L)
        while j > i:
            w.move(j, -1)
            j -= 1


def answer_like_a_learner(w) -> None:
    w["q01"].choice.value = "C"
    w["q02"].choice.value = "A"
    for L in "AC":
        w["q03"].boxes[L].value = True
    w["q04"].choice.value = True
    w["q05"].texts[0].value = "６０日"
    move_to(w["q06"], "ABDC")
    w["q07"].subs["a"].choice.value = "A"
    w["q07"].subs["b"].choice.value = True


@pytest.mark.slow
def test_nbgrader_autograde_of_a_drawn_paper_gives_the_hand_checked_score(tmp_path, monkeypatch):
    """The slot notebook ``grading.content.bank`` generates → nbgrader generate_assignment (the
    release holds no question) → the learner's kernel renders the served paper and answers →
    the submission with the grader's ``assessment.paper.json`` beside the answers → nbgrader
    autograde: every slot and the total equal the hand check (31 of 55)."""
    import shutil

    import nbformat
    from nbgrader.api import Gradebook

    from grading.content.bank import slot_notebook
    from tests.widgets.test_nbgrader_e2e import ASSIGNMENT, run

    spec = CourseSpec.model_validate(COURSE)
    qs = drawn(11)
    root = tmp_path / "course"
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(slot_notebook(spec), root / "source" / ASSIGNMENT / "assessment.ipynb")
    (root / "nbgrader_config.py").write_text(
        f"c = get_config()\nc.CourseDirectory.root = {str(root)!r}\n"
        "c.CourseDirectory.course_id = 'demo'\nc.ExecutePreprocessor.timeout = 120\n")
    path = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
    env = {**os.environ, "PATH": path, "JUPYTER_DATA_DIR": str(tmp_path / "jdata"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "jconfig"), "XUEFA_EVENTS_DIR": str(tmp_path / "ev")}
    for k in ("JUPYTERHUB_API_TOKEN", "XUEFA_RECORDS_URL"):
        env.pop(k, None)
        monkeypatch.delenv(k, raising=False)
    run(["generate_assignment", ASSIGNMENT, "--force"], cwd=root, env=env)
    released = root / "release" / ASSIGNMENT / "assessment.ipynb"
    text = released.read_text(encoding="utf-8")
    assert "xf.Paper()" in text and "grade_slot" not in text
    for q in BANK["questions"]:
        assert (q.get("stem") or q["scenario"])[:20] not in text

    # the learner's kernel: the released notebook's cells, the paper as the service serves it
    work = tmp_path / "home" / "ganbu1" / "demo" / ASSIGNMENT
    work.mkdir(parents=True)
    shutil.copy(released, work / "assessment.ipynb")
    monkeypatch.chdir(work)
    ns = {"PAPER": served(qs, token="tok-e2e")}
    for cell in nbformat.read(work / "assessment.ipynb", as_version=4).cells:
        if cell.cell_type == "code" and "xf.Submit" not in cell.source:
            exec(cell.source.replace("xf.Paper()", "xf.Paper(PAPER)"), ns)
    assert xf.current().assessment and len(xf.current().questions) == 7
    answer_like_a_learner(xf.current().widgets)
    assert not Submit().unanswered()
    answers = json.loads((work / "assessment.answers.json").read_text(encoding="utf-8"))
    assert answers[PAPER_KEY] == "tok-e2e" and answers["q03"] == "AC" and answers["q06"] == "ABDC"

    # what the grading service hands nbgrader: the notebook, the answers, and the full paper
    sub = root / "submitted" / "ganbu1" / ASSIGNMENT
    sub.mkdir(parents=True)
    for name in ("assessment.ipynb", "assessment.answers.json"):
        shutil.copy(work / name, sub / name)
    (sub / "assessment.paper.json").write_text(
        json.dumps({"token": "tok-e2e", "questions": qs}, ensure_ascii=False), encoding="utf-8")
    run(["autograde", ASSIGNMENT, "--create"], cwd=root, env=env)

    slot_of = {q["id"]: q["slot"] for q in qs}
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
        assert gb.find_submission(ASSIGNMENT, "ganbu1").score == 31
        for qid, pts in EXPECTED.items():
            assert gb.find_grade(slot_of[qid], "assessment", ASSIGNMENT, "ganbu1").score == pts, qid
    graded = nbformat.read(root / "autograded" / "ganbu1" / ASSIGNMENT / "assessment.ipynb",
                           as_version=4)
    items = [o.data[xf.MIME] for c in graded.cells if c.cell_type == "code"
             for o in c.get("outputs", []) if xf.MIME in o.get("data", {})]
    assert {i["slot"]: i["id"] for i in items} == {q["slot"]: q["id"] for q in qs}
    assert all(i["stem"] and len(i["stem"]) <= 200 and "problems" not in i for i in items)
