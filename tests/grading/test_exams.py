"""考试规则 and drawn papers in the records DB (issue 14): rules resolution, attempts counted
server-side, what a learner may see when, papers drawn once per attempt."""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timedelta, timezone

import pytest

from grading.records import exams, papers
from grading.records.db import session_scope
from grading.records.learner_home import my_learning
from grading.records.models import (
    Audience,
    Campaign,
    CampaignCourse,
    Course,
    GradingJob,
    ItemResult,
    Learner,
    Paper,
    Result,
    Role,
    Unit,
)
from grading.records.results import effective_result

C = "kaoshi"
NOW = datetime(2026, 12, 10, 2, 0)  # naive UTC, as the records DB keeps times
TODAY = date(2026, 12, 10)

FULL = [  # a drawn paper: keys and explanations included
    {"id": "q01", "slot": "s01", "type": "single", "stem": "未成年人是指（  ）的公民。",
     "options": ["未满十四周岁", "未满十六周岁", "未满十八周岁"], "key": "C",
     "explanation": "解析甲：未满十八周岁。", "legal_basis": "《未成年人保护法》第二条", "points": 50},
    {"id": "q02", "slot": "s02", "type": "case", "scenario": "某案", "points": 50,
     "questions": [{"id": "a", "type": "truefalse", "stem": "对吗", "points": 50, "key": True,
                    "explanation": "解析乙"}]},
]


def _setup(url, *, campaign_end=date(2026, 12, 31), campaign_rules=None):
    with session_scope(url) as s:
        unit = Unit(path="海安市/城东镇", name="城东镇", level=1)
        s.add(unit)
        s.flush()
        for name in ("ganbu1", "ganbu2"):
            s.add(Learner(username=name, name=name, unit_id=unit.id, audience=Audience.cadre,
                          role=Role.learner))
        s.add(Course(id=C, title="考试课", pass_mark=60, audiences=["cadre"], meta={}))
        s.flush()
        s.add(Campaign(id="yue", name="学习月", start=date(2026, 12, 1), end=campaign_end,
                       pass_mark=60, rules=campaign_rules))
        s.flush()
        s.add(CampaignCourse(campaign_id="yue", course_id=C, audience=Audience.cadre, required=True))


def _result(url, username, attempt, score, *, outcome="ok", minutes=0, details=None):
    with session_scope(url) as s:
        lid = s.query(Learner).filter_by(username=username).one().id
        r = Result(learner_id=lid, course_id=C, assignment="module", attempt=attempt,
                   score=score, max_score=100, passed=score >= 60 and outcome == "ok",
                   outcome=outcome, details=details if details is not None else [],
                   submitted_at=NOW - timedelta(hours=3) + timedelta(minutes=minutes))
        for d in details or []:
            r.items.append(ItemResult(course_id=C, question_id=d["id"], points=d["points"],
                                      max_points=d["max_points"], correct=d["correct"],
                                      answer=d.get("answer"), slot=d.get("slot")))
        s.add(r)


def _state(url, username="ganbu1", now=NOW):
    with session_scope(url) as s:
        return exams.attempt_state(s, username, C, "module", now)


def _level(url, username="ganbu1", now=NOW):
    with session_scope(url) as s:
        return exams.reveal_level(s, username, C, "module", now)


def test_rules_course_over_campaign_over_defaults(records_url):
    _setup(records_url, campaign_rules={"attempts": 5, "show": "score", "cooldown_minutes": 10})
    assert exams.rules_for(records_url, C)["attempts"] == 5  # no course rules yet: campaign's
    exams.store_rules(records_url, C, {"attempts": 2, "counts": "last", "closes": None})
    r = exams.rules_for(records_url, C)
    assert (r["attempts"], r["show"], r["cooldown_minutes"], r["counts"], r["key"]) == (2, "score", 10, "last", "after")
    with session_scope(records_url) as s:
        from grading.records.results import assessment

        assert assessment(s, C, "module").policy == "latest"
    exams.store_campaign_rules(records_url, "yue", {"counts": "best", "key": "never"})
    r = exams.rules_for(records_url, C)
    assert r["counts"] == "last" and r["key"] == "never" and r["show"] == "wrong"


def test_defaults_three_attempts_only_counted_outcomes_use_one(records_url):
    _setup(records_url)
    exams.store_rules(records_url, C, {})
    _result(records_url, "ganbu1", 1, 10)
    _result(records_url, "ganbu1", 2, 0, outcome="error", minutes=1)
    _result(records_url, "ganbu1", 3, 0, outcome="refused", minutes=2)
    _result(records_url, "ganbu1", 4, 0, outcome="bad_notebook", minutes=3)
    st = _state(records_url)
    assert (st.used, st.max, st.exhausted, st.may_draw) == (2, 3, False, True)
    _result(records_url, "ganbu1", 5, 20, minutes=4)
    st = _state(records_url)
    assert st.exhausted and not st.may_draw and st.reason == "exhausted"
    assert "3 次" in st.reason_zh
    with session_scope(records_url) as s:
        why = exams.refusal(s, "ganbu1", C, "module", NOW)
    assert why == "您已用完全部 3 次考试机会，本次提交未计分。"
    assert _state(records_url, "ganbu2").used == 0  # another learner's attempts are theirs


def test_cooldown_and_window(records_url):
    _setup(records_url)
    exams.store_rules(records_url, C, {"cooldown_minutes": 60, "opens": "2026-12-05T08:00",
                                       "closes": "2026-12-20T18:00:00+08:00"})
    _result(records_url, "ganbu1", 1, 10, minutes=150)  # 30 minutes before NOW
    st = _state(records_url)
    assert st.reason == "cooldown" and st.next_at == (NOW + timedelta(minutes=30)).replace(tzinfo=timezone.utc)
    assert _state(records_url, now=NOW + timedelta(minutes=31)).may_draw
    st = _state(records_url, "ganbu2", now=datetime(2026, 12, 4, 23, 59))  # 07:59 local on the 5th
    assert st.reason == "not_open" and "2026-12-05 08:00" in st.reason_zh
    st = _state(records_url, "ganbu2", now=datetime(2026, 12, 20, 10, 1))  # 18:01 local
    assert st.reason == "closed" and st.closed
    # a queued job's own time counts, not the learner's claim in the inbound folder's name
    with session_scope(records_url) as s:
        s.add(GradingJob(course_id=C, assignment="module", username="ganbu2",
                         submitted_at=datetime(2026, 12, 20, 9, 0), created_at=datetime(2026, 12, 20, 10, 30)))
    assert "截止" in exams.submission_refusal(records_url, "ganbu2", C, "module", datetime(2026, 12, 20, 9, 0))


def test_reveal_key_after_pass_exhaustion_or_campaign_end(records_url):
    _setup(records_url)
    exams.store_rules(records_url, C, {})
    assert _level(records_url) == "wrong"
    _result(records_url, "ganbu1", 1, 10)
    assert _level(records_url) == "wrong"
    _result(records_url, "ganbu1", 2, 90, minutes=1)
    assert _level(records_url) == "key"  # passed
    _result(records_url, "ganbu2", 1, 10)
    _result(records_url, "ganbu2", 2, 10, minutes=1)
    assert _level(records_url, "ganbu2") == "wrong"
    _result(records_url, "ganbu2", 3, 10, minutes=2)
    assert _level(records_url, "ganbu2") == "key"  # attempts used up


def test_reveal_after_campaign_and_rule_variants(records_url):
    _setup(records_url, campaign_end=date(2026, 12, 9))
    exams.store_rules(records_url, C, {"show": "score"})
    assert _level(records_url) == "key"  # the campaign listing the course ended yesterday
    assert _level(records_url, now=datetime(2026, 12, 9, 15, 0)) == "score"  # 23:00 local, still on
    exams.store_rules(records_url, C, {"show": "score", "key": "never"})
    assert _level(records_url) == "score"
    exams.store_rules(records_url, C, {"key": "always"})
    assert _level(records_url, now=datetime(2026, 12, 2)) == "key"
    exams.store_rules(records_url, C, {"closes": "2026-12-08T22:00"})  # local time
    assert _level(records_url, now=datetime(2026, 12, 8, 12)) == "wrong"  # 20:00 local
    assert _level(records_url, now=datetime(2026, 12, 8, 14, 1)) == "key"  # 22:01 local: closed


def test_result_view_levels():
    details = [dict(FULL[0], correct=False, points=0, max_points=50, answer="A")]
    assert exams.result_view(details, "score") == []
    wrong = exams.result_view(details, "wrong")
    assert wrong == [{"id": "q01", "slot": "s01", "stem": FULL[0]["stem"], "type": "single",
                      "correct": False, "points": 0, "max_points": 50, "answer": "A"}]
    assert "解析甲" not in str(wrong) and "legal_basis" not in wrong[0]
    assert exams.result_view(details, "key")[0]["explanation"] == "解析甲：未满十八周岁。"
    pub = exams.public_question(FULL[1])
    assert "key" not in str(pub) and "解析乙" not in str(pub) and pub["questions"][0]["stem"] == "对吗"


def test_results_view_cuts_details_until_revealed(records_url):
    _setup(records_url)
    exams.store_rules(records_url, C, {})
    item = dict(FULL[0], correct=False, points=0, max_points=50, answer="A")
    _result(records_url, "ganbu1", 1, 0, details=[item])
    v = exams.results_view(records_url, "ganbu1", C, "module", now=NOW)
    assert v["reveal"] == "wrong" and v["attempts"]["used"] == 1 and v["attempts"]["max"] == 3
    assert "解析甲" not in str(v) and "'key'" not in str(v["results"])
    _result(records_url, "ganbu1", 2, 80, minutes=1, details=[dict(item, correct=True, points=50, answer="C")])
    v = exams.results_view(records_url, "ganbu1", C, "module", now=NOW)
    assert v["reveal"] == "key" and "解析甲" in str(v)


def test_effective_result_follows_counts(records_url):
    _setup(records_url)
    exams.store_rules(records_url, C, {"counts": "best"})
    _result(records_url, "ganbu1", 1, 90)
    _result(records_url, "ganbu1", 2, 40, minutes=1)
    _result(records_url, "ganbu1", 3, 0, outcome="refused", minutes=2)
    assert effective_result(records_url, "ganbu1", C, "module").attempt == 1
    exams.store_rules(records_url, C, {"counts": "last"})
    assert effective_result(records_url, "ganbu1", C, "module").attempt == 2  # refused is no attempt


def test_paper_drawn_once_per_attempt_even_at_once(records_url):
    _setup(records_url)
    calls = []

    def draw():
        calls.append(1)
        return [dict(q) for q in FULL]

    with session_scope(records_url) as s:
        p1 = papers.get_or_draw(s, "ganbu1", C, "module", 1, draw, bank_digest=lambda: "d1")
    with session_scope(records_url) as s:
        p2 = papers.get_or_draw(s, "ganbu1", C, "module", 1, draw)
    assert p1.token == p2.token and len(calls) == 1 and p2.bank_digest == "d1"
    tokens, errors = [], []

    def worker():
        try:
            with session_scope(records_url) as s:
                tokens.append(papers.get_or_draw(s, "ganbu2", C, "module", 1, draw).token)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(tokens)) == 1 and len(tokens) == 6
    with session_scope(records_url) as s:
        assert s.query(Paper).filter_by(course_id=C).count() == 2
        assert papers.by_token(s, p1.token, username="ganbu1", course_id=C) is not None
        assert papers.by_token(s, p1.token, username="ganbu2") is None  # foreign
        assert papers.by_token(s, p1.token, course_id="other") is None
        assert papers.by_token(s, "nope") is None


def test_paper_check_refuses_foreign_and_used_papers(records_url):
    _setup(records_url)
    with session_scope(records_url) as s:
        p = papers.get_or_draw(s, "ganbu1", C, "module", 1, lambda: [dict(q) for q in FULL])
    qs, why = exams.paper_check(records_url, "ganbu1", C, "module", p.token)
    assert why is None and qs[0]["key"] == "C"
    qs, why = exams.paper_check(records_url, "ganbu2", C, "module", p.token)
    assert qs is None and why.startswith("试卷已失效")
    assert exams.paper_check(records_url, "ganbu1", C, "module", None)[0] is None
    _result(records_url, "ganbu1", 1, 10)
    qs, why = exams.paper_check(records_url, "ganbu1", C, "module", p.token)
    assert qs is None and "已经提交并计分" in why


def test_wrongbook_public_until_revealed(records_url):
    _setup(records_url)
    exams.store_rules(records_url, C, {})
    with session_scope(records_url) as s:
        papers.get_or_draw(s, "ganbu1", C, "module", 1, lambda: [dict(q) for q in FULL])
    item = {"id": "q01", "slot": "s01", "correct": False, "points": 0, "max_points": 50, "answer": "A",
            "key": "C", "explanation": "解析甲：未满十八周岁。"}
    _result(records_url, "ganbu1", 1, 50, details=[item, {"id": "q02", "correct": True, "points": 50,
                                                          "max_points": 50}])
    _result(records_url, "ganbu1", 2, 50, minutes=1, details=[dict(item, answer="B")])
    book = exams.wrongbook(records_url, "ganbu1", now=NOW)
    assert len(book) == 1 and book[0]["answer"] == "B" and book[0]["course_title"] == "考试课"
    assert not book[0]["revealed"] and book[0]["question"]["stem"] == FULL[0]["stem"]
    assert "解析甲" not in str(book) and "key" not in book[0]["question"]
    _result(records_url, "ganbu1", 3, 50, minutes=2, details=[dict(item, answer="B")])  # used up
    book = exams.wrongbook(records_url, "ganbu1", now=NOW)
    assert book[0]["revealed"] and book[0]["question"]["key"] == "C"
    assert exams.wrongbook(records_url, "ganbu2", now=NOW) == []


def test_learner_home_shows_attempts(records_url):
    _setup(records_url)
    exams.store_rules(records_url, C, {"attempts": 2, "closes": "2026-12-31T18:00"})
    _result(records_url, "ganbu1", 1, 10)
    _result(records_url, "ganbu1", 2, 0, outcome="refused", minutes=1)
    m = next(m for m in my_learning(records_url, "ganbu1", today=TODAY)["modules"] if m["course_id"] == C)
    assert (m["attempts_used"], m["attempts_max"], m["reveal"]) == (1, 2, "wrong")
    assert m["closes"] == "2026-12-31T18:00:00+08:00" and m["status"] == "未合格"


def test_bad_stored_rules_fall_back_to_defaults(records_url):
    _setup(records_url)
    exams.store_rules(records_url, C, {"attempts": "x", "counts": "worst", "show": "all", "key": "maybe"})
    r = exams.rules_for(records_url, C)
    assert (r["attempts"], r["counts"], r["show"], r["key"]) == (3, "best", "wrong", "after")


def test_drawn_paper_graded_by_the_service_with_the_keys_held_server_side(datadir, records_url):
    """The real grading service grades a drawn paper from its server-side snapshot: the keys
    reach only the grading kernel, the score is the hand count of the key, and each item names
    its bank question and slot."""
    pytest.importorskip("widgets")
    import time

    from grading.content.publish import publish_course
    from hub_config.records_service import draw_paper
    from hub_config.tools.bench import Service, learner_copy, submit

    with session_scope(records_url) as s:
        u = Unit(path="测试市", name="测试市", level=0)
        s.add(u)
        s.flush()
        s.add(Learner(username="ganbu1", name="干部一", unit_id=u.id, audience=Audience.cadre,
                      role=Role.learner))
    publish_course(datadir, "weichengnian")
    paper = draw_paper(records_url, datadir, "ganbu1", "weichengnian", "module")
    assert "key" not in str(paper["questions"]) and paper["attempt"] == 1
    with session_scope(records_url) as s:
        full = s.query(Paper).filter_by(token=paper["token"]).one().questions
    answers, expected = {"__paper__": paper["token"]}, 0.0
    for i, q in enumerate(full):
        if i % 2 == 0:  # every other question right, the rest unanswered
            if q["type"] == "case":
                answers[q["id"]] = {sq["id"]: sq["key"] for sq in q["questions"]}
            else:
                answers[q["id"]] = q["key"]
            expected += q["points"]
    d = learner_copy(datadir, "weichengnian", "ganbu1")
    assert "key" not in (d / "assessment.ipynb").read_text(encoding="utf-8").lower().replace("keyboard", "")
    (d / "assessment.answers.json").write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
    with Service(datadir, "--workers=1"):
        submit(datadir, "weichengnian", "ganbu1", d)
        t0 = time.monotonic()
        while (r := effective_result(records_url, "ganbu1", "weichengnian", "module")) is None:
            assert time.monotonic() - t0 < 240
            time.sleep(0.3)
    assert r.outcome == "ok", r.message
    assert r.score == pytest.approx(expected) and r.max_score == 100
    by_slot = {d["slot"]: d for d in r.details}
    assert set(by_slot) == {q["slot"] for q in full}
    for i, q in enumerate(full):
        item = by_slot[q["slot"]]
        assert item["id"] == q["id"] and item["correct"] is (i % 2 == 0)
    with session_scope(records_url) as s:
        items = s.query(ItemResult).filter_by(result_id=r.id).all()
        assert {i.slot for i in items} == set(by_slot)
