"""Report queries against a small hand-built campaign; every expected figure is worked out by
hand in the comments of :func:`city`."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from grading.reports import queries as reports
from grading.records.db import session_scope
from grading.records.models import (
    Campaign,
    CampaignCourse,
    Course,
    ItemResult,
    LearningEvent,
    Learner,
    Result,
    Unit,
)

CID = "m2026-11"


def add_result(s, learner, course, score, when, attempt=1, items=()):
    r = Result(
        learner_id=learner.id, course_id=course, assignment="module", attempt=attempt, score=score,
        max_score=100, passed=score >= 60, submitted_at=when,
    )
    for qid, basis, ok in items:
        r.items.append(ItemResult(course_id=course, question_id=qid, legal_basis=basis, points=10 * ok, max_points=10, correct=ok))
    s.add(r)


def build_city(url: str) -> None:
    """Population (6): p1..p6. Admin, inactive and legal_staff (no required course) are out.

    p1 cadre 城东镇: A 80 (11-03), B 70 (11-05), elective E 90  -> complete 11-05, hours 2+1+0.5
    p2 cadre 城东镇: A 50 then 65 (11-06), B 40                  -> 未合格 (B), hours 2
    p3 cadre 司法局: one learning event (11-10), no result        -> 未完成
    p4 cadre 司法局: an event before the start only              -> 未开始
    p5 volunteer 新城社区: A 90 on 12-02                          -> late complete, hours 2
    p6 volunteer 新城社区: A 100 on 10-20, before the start       -> 未开始

    participating 4/6, complete 2/6 (1 late), tested 3 (p1 p2 p5) so 合格率 2/3,
    average best score over required assessments taken: (80+70+65+40+90)/5 = 69.0, hours 7.5.
    """
    with session_scope(url) as s:
        city = Unit(path="示范市", name="示范市", level=0)
        town = Unit(path="示范市/城东镇", name="城东镇", level=1, parent=city)
        village = Unit(path="示范市/城东镇/新城社区", name="新城社区", level=2, parent=town)
        dept = Unit(path="示范市/司法局", name="司法局", level=1, parent=city)
        s.add_all([city, town, village, dept])
        s.add_all([
            Course(id="A", title="宪法学习", hours=2),
            Course(id="B", title="民法典", hours=1),
            Course(id="E", title="选修课", hours=0.5),
        ])
        camp = Campaign(id=CID, name="十一月学法月", start=date(2026, 11, 1), end=date(2026, 11, 30), pass_mark=60)
        for course, aud, req in [("A", "cadre", True), ("B", "cadre", True), ("E", "cadre", False), ("A", "volunteer", True)]:
            camp.courses.append(CampaignCourse(course_id=course, audience=aud, required=req))
        s.add(camp)
        s.flush()

        def person(username, name, unit, audience, role="learner", active=True):
            p = Learner(username=username, name=name, unit_id=unit.id, audience=audience, role=role, active=active, phone="13900000000")
            s.add(p)
            s.flush()
            return p

        p1 = person("p1", "张一", town, "cadre")
        p2 = person("p2", "李二", town, "cadre")
        p3 = person("p3", "王三", dept, "cadre")
        p4 = person("p4", "赵四", dept, "cadre")
        p5 = person("p5", "钱五", village, "volunteer")
        p6 = person("p6", "孙六", village, "volunteer")
        admin = person("admin", "管理员", city, "cadre", role="admin")
        gone = person("gone", "离职", town, "cadre", active=False)
        person("cop", "警员", dept, "legal_staff")

        q1, q2 = "《中华人民共和国宪法》第一条", "《中华人民共和国宪法》第五条"
        add_result(s, p1, "A", 80, datetime(2026, 11, 3, 9), items=[("q1", q1, True), ("q2", q2, False)])
        add_result(s, p1, "E", 90, datetime(2026, 11, 4, 9))
        add_result(s, p1, "B", 70, datetime(2026, 11, 5, 9))
        add_result(s, p2, "A", 50, datetime(2026, 11, 2, 9), items=[("q1", q1, False), ("q2", q2, False)])
        add_result(s, p2, "A", 65, datetime(2026, 11, 6, 9), attempt=2, items=[("q1", q1, True), ("q2", q2, True)])
        add_result(s, p2, "B", 40, datetime(2026, 11, 7, 9))
        add_result(s, p5, "A", 90, datetime(2026, 12, 2, 9), items=[("q1", q1, True), ("q2", q2, True)])
        add_result(s, p6, "A", 100, datetime(2026, 10, 20, 9), items=[("q1", q1, False)])
        for who in (admin, gone):  # out of scope: must not move any figure
            add_result(s, who, "A", 100, datetime(2026, 11, 3, 9))
            add_result(s, who, "B", 100, datetime(2026, 11, 3, 9))
        s.add(LearningEvent(learner_id=p3.id, client_id="e1", kind="lesson_opened", course_id="A", created_at=datetime(2026, 11, 10, 20)))
        s.add(LearningEvent(learner_id=p4.id, client_id="e2", kind="lesson_opened", course_id="A", created_at=datetime(2026, 10, 25, 20)))


@pytest.fixture
def url(records_url):
    build_city(records_url)
    return records_url


def test_overview_rates_by_hand(url):
    ov = reports.overview(url, CID, today=date(2026, 11, 29))
    assert (ov.learners, ov.participating, ov.complete, ov.late, ov.tested) == (6, 4, 2, 1, 3)
    assert ov.participation_rate == pytest.approx(4 / 6, abs=1e-4)
    assert ov.completion_rate == pytest.approx(2 / 6, abs=1e-4)
    assert ov.pass_rate == pytest.approx(2 / 3, abs=1e-4)
    assert ov.avg_score == 69.0
    assert ov.hours == 7.5
    assert ov.days_left == 2  # 29th and 30th
    assert reports.overview(url, CID, today=date(2026, 12, 5)).days_left == 0
    assert reports.overview(url, CID, today=date(2026, 10, 1)).days_left == 30


def test_by_unit_rolls_villages_into_townships_and_drills_down(url):
    df = reports.by_unit(url, CID).set_index("unit")
    assert list(df.index) == ["司法局", "城东镇"]  # lowest completion rate first
    town = df.loc["城东镇"]
    assert (town.learners, town.participating, town.complete, town.late, town.tested) == (4, 3, 2, 1, 3)
    assert town.completion_rate == 0.5 and town.pass_rate == pytest.approx(2 / 3, abs=1e-4)
    assert town.hours == 7.5 and town.has_children
    dept = df.loc["司法局"]
    assert (dept.learners, dept.participating, dept.complete, dept.not_started, dept.in_progress) == (2, 1, 0, 1, 1)
    assert dept.avg_score == 0.0

    drill = reports.by_unit(url, CID, int(town.unit_id)).set_index("unit")
    assert set(drill.index) == {"城东镇(本级)", "新城社区"}
    assert (drill.loc["城东镇(本级)", "learners"], drill.loc["城东镇(本级)", "complete"]) == (2, 1)
    assert (drill.loc["新城社区", "learners"], drill.loc["新城社区", "late"], drill.loc["新城社区", "not_started"]) == (2, 1, 1)
    assert not drill.loc["新城社区", "has_children"]

    folks = reports.people(url, CID, int(drill.loc["新城社区", "unit_id"])).set_index("username")
    assert folks.loc["p5", "status"] == "逾期完成" and folks.loc["p6", "status"] == "未开始"
    assert folks.loc["p5", "hours"] == 2.0


def test_laggards_name_status_and_missing_courses(url):
    df = reports.laggards(url, CID).set_index("username")
    assert set(df.index) == {"p2", "p3", "p4", "p6"}
    assert df.loc["p2", "status"] == "未合格" and df.loc["p2", "missing"] == "民法典"
    assert df.loc["p3", "status"] == "未完成" and df.loc["p3", "missing"] == "宪法学习、民法典"
    assert df.loc["p4", "status"] == "未开始" and df.loc["p4", "top_unit"] == "司法局"
    assert df.loc["p6", "unit_path"] == "示范市/城东镇/新城社区" and df.loc["p6", "name"] == "孙六"
    tops = list(reports.laggards(url, CID)["top_unit"])
    assert tops == sorted(tops)  # grouped per unit, ready to send
    only_dept = reports.laggards(url, CID, unit_id=int(reports.by_unit(url, CID).iloc[0].unit_id))
    assert set(only_dept["username"]) == {"p3", "p4"}


def test_daily_trend_over_the_calendar(url):
    df = reports.daily_trend(url, CID).set_index("date")
    assert len(df) == 31  # 30 days of November, plus 12-02 with the late completion
    assert df.loc[date(2026, 11, 5), "completions"] == 1
    assert df.loc[date(2026, 12, 2), "completions"] == 1
    assert df["completions"].sum() == 2
    assert df.loc[date(2026, 11, 6), "course_passes"] == 1  # p2's second attempt at A
    assert df["course_passes"].sum() == 4
    assert df["cumulative_rate"].iloc[-1] == pytest.approx(2 / 6, abs=1e-4)


def test_item_analysis_per_question_and_statute(url):
    ia = reports.item_analysis(url, CID)
    q = ia.by_question.set_index("question_id")
    # q1: p1 yes, p2 no then yes, p5 yes; p6's answer predates the campaign
    assert (q.loc["q1", "answers"], q.loc["q1", "correct"]) == (4, 3)
    assert q.loc["q2", "share_correct"] == 0.5
    assert list(ia.by_question["question_id"]) == ["q2", "q1"]  # hardest first
    s = ia.by_statute.set_index("legal_basis")
    assert s.loc["《中华人民共和国宪法》第五条", "share_correct"] == 0.5
    assert list(ia.question_by_unit.columns) == ["城东镇"]
    assert ia.question_by_unit.loc["A/q1", "城东镇"] == 0.75
    assert reports.item_analysis(url, CID, "B").by_question.empty


def test_labels_are_chinese(url):
    df = reports.labelled(reports.by_unit(url, CID))
    assert {"单位", "应学人数", "参学率", "完成率", "合格率"} <= set(df.columns)


def test_bench_times_every_dashboard_query():
    from click.testing import CliRunner

    from hub_config.cli import main

    res = CliRunner().invoke(main, ["report", "bench", "--learners", "500"])
    assert res.exit_code == 0, res.output
    lines = res.output.strip().splitlines()
    assert any(line.startswith("query overview") for line in lines)
    assert any(line.startswith("query laggards") for line in lines)
    last = lines[-1]
    m = __import__("re").fullmatch(r"RESULT learners=500 events=(\d+) max_query_s=([0-9.]+)", last)
    assert m and int(m.group(1)) >= 500 * 80 * 0.8, last
