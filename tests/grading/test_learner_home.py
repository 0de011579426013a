"""我的学习 data: a learner sees the current campaign's modules of their own audience, with
status, best score and credited hours from the records DB."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from grading.content.courses import course_dirs, load_course
from grading.records.db import session_scope
from grading.records.learner_home import my_learning
from grading.records.models import Audience, GradingJob, Learner, LearningEvent, Result, Role, Unit
from grading.content.publish import load_campaign, upsert_course

ROOT = Path(__file__).resolve().parents[2]
CAMPAIGN = ROOT / "courses" / "campaigns" / "xuexiyue_2026.yaml"
TODAY = date(2026, 11, 29)


def _setup(url: str) -> None:
    for d in course_dirs(ROOT / "courses"):
        upsert_course(url, load_course(d))
    load_campaign(url, CAMPAIGN)
    with session_scope(url) as s:
        unit = Unit(path="海安市/城东镇", name="城东镇", level=1)
        s.add(unit)
        s.flush()
        for username, aud in [("ganbu1", Audience.cadre), ("zhengfa1", Audience.legal_staff),
                              ("mingbai1", Audience.volunteer), ("qingnian1", Audience.young_cadre)]:
            s.add(Learner(username=username, name=username, unit_id=unit.id, audience=aud, role=Role.learner))


def _ids(data, required):
    return {m["course_id"] for m in data["modules"] if m["required"] is required}


def test_each_audience_sees_its_plan(records_url):
    _setup(records_url)
    g = my_learning(records_url, "ganbu1", today=TODAY)
    assert g["campaign"]["name"] == "2026 干部学习月"
    assert g["campaign"]["deadline"] == "2026-12-31"
    assert g["campaign"]["days_left"] == 33
    assert _ids(g, True) == {"xianfa", "fazhi_zhengfu", "xingzheng_zhifa", "weichengnian"}
    assert _ids(g, False) == {"shufa", "jiceng_zhili", "pingtai_rumen"}
    m = my_learning(records_url, "mingbai1", today=TODAY)
    assert _ids(m, True) == {"weijiangtang", "jiceng_zhili", "weichengnian", "tiaojie", "falv_yuanzhu"}
    z = my_learning(records_url, "zhengfa1", today=TODAY)
    assert _ids(z, True) == {"zhengfa_rongxue", "xingzheng_zhifa", "weichengnian", "tiaojie"}
    q = my_learning(records_url, "qingnian1", today=TODAY)
    assert _ids(q, True) == {"xianfa", "xiangshang", "weichengnian"}  # more than one (issue 17)
    assert all(mod["status"] == "未开始" for d in (g, m, z, q) for mod in d["modules"])
    assert g["credited_hours"] == 0 and not g["complete"]
    # required first, then by the courses' order
    assert [mm["required"] for mm in g["modules"]] == sorted((mm["required"] for mm in g["modules"]), reverse=True)


def test_statuses_scores_and_hours(records_url):
    _setup(records_url)
    with session_scope(records_url) as s:
        me = s.query(Learner).filter_by(username="ganbu1").one()
        s.add(LearningEvent(learner_id=me.id, client_id="e1", kind="lesson_opened", course_id="fazhi_zhengfu"))
        at = datetime(2026, 11, 20, 9)
        s.add(Result(learner_id=me.id, course_id="xingzheng_zhifa", assignment="module", attempt=1,
                     score=50, max_score=100, passed=False, submitted_at=at))
        s.add(Result(learner_id=me.id, course_id="xingzheng_zhifa", assignment="module", attempt=2,
                     score=80, max_score=100, passed=True, submitted_at=at.replace(day=21)))
        s.add(Result(learner_id=me.id, course_id="weichengnian", assignment="module", attempt=1,
                     score=40, max_score=100, passed=False, submitted_at=at))
        # a pass from before the campaign does not count (completion rules)
        s.add(Result(learner_id=me.id, course_id="jiceng_zhili", assignment="module", attempt=1,
                     score=100, max_score=100, passed=True, submitted_at=datetime(2026, 10, 1)))
        s.add(GradingJob(course_id="shufa", assignment="module", username="ganbu1", submitted_at=at))
    data = my_learning(records_url, "ganbu1", today=TODAY)
    by = {m["course_id"]: m for m in data["modules"]}
    assert by["fazhi_zhengfu"]["status"] == "学习中"
    assert by["xingzheng_zhifa"]["status"] == "已合格"
    assert by["xingzheng_zhifa"]["score"] == 80.0 and by["xingzheng_zhifa"]["attempts"] == 2
    assert by["weichengnian"]["status"] == "未合格" and by["weichengnian"]["score"] == 40.0
    assert by["shufa"]["status"] == "已提交"
    assert by["jiceng_zhili"]["status"] == "未开始"
    assert data["credited_hours"] == 3.0
    assert data["required_passed"] == 1 and data["required_total"] == 4
    # nobody else's records show up
    other = my_learning(records_url, "zhengfa1", today=TODAY)
    assert all(m["status"] == "未开始" for m in other["modules"])


def test_unknown_user_and_no_campaign(records_url):
    assert my_learning(records_url, "nobody", today=TODAY)["modules"] == []
    with session_scope(records_url) as s:
        unit = Unit(path="海安市", name="海安市", level=0)
        s.add(unit)
        s.flush()
        s.add(Learner(username="ganbu1", name="甲", unit_id=unit.id, audience=Audience.cadre, role=Role.learner))
    data = my_learning(records_url, "ganbu1", today=TODAY)
    assert data["campaign"] is None and "没有" in data["message"]


def test_optional_blocks_have_a_fixed_shape(records_url):
    """导学, 通知公告, 结业证书 and 述法评议 are filled elsewhere; the keys are always there."""
    _setup(records_url)
    for username in ("ganbu1", "nobody"):
        data = my_learning(records_url, username, today=TODAY)
        assert data["guidance"] is None and data["notices"] == []
        assert data["certificate"] is None and data["law_review"] is None


def test_home_blocks_notices_guidance_certificate(records_url):
    """The optional blocks come from their own features: an audience's notice (not another
    audience's), the campaign's 导学, and a certificate link only once every required course
    is passed."""
    from grading.records import notices

    _setup(records_url)
    with session_scope(records_url) as s:
        notices.store_guidance(s, "xuexiyue_2026", {"leader": "市长 某某", "title": "学法为先", "text": "请按期完成。"},
                               actor=None)
    notices.post_notice(records_url, title="考试安排", body="本周五前完成", audience="young_cadre", actor="admin")
    notices.post_notice(records_url, title="法律明白人专场", body="周六", audience="volunteer", actor="admin")
    q = my_learning(records_url, "qingnian1", today=TODAY)
    assert [n["title"] for n in q["notices"]] == ["考试安排"]
    assert q["guidance"]["title"] == "学法为先"
    assert q["certificate"] is None and q["law_review"] is None
    with session_scope(records_url) as s:
        me = s.query(Learner).filter_by(username="qingnian1").one()
        for cid in ("xianfa", "xiangshang", "weichengnian"):
            s.add(Result(learner_id=me.id, course_id=cid, assignment="module", attempt=1, score=90,
                         max_score=100, passed=True, submitted_at=datetime(2026, 11, 20, 9)))
    q = my_learning(records_url, "qingnian1", today=TODAY)
    assert q["complete"] and q["certificate"]["url"].startswith("/hub/xuefa/certificate")
