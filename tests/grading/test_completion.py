"""Completion rules: participation, best attempt, pass mark, lateness, hours, scope."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from grading.records import completion
from grading.records.db import session_scope
from grading.records.models import Campaign, CampaignCourse, Course, LearningEvent, Learner, Result, Unit

CID = "rules"


@pytest.fixture
def url(records_url):
    with session_scope(records_url) as s:
        unit = Unit(path="示范市", name="示范市", level=0)
        s.add(unit)
        s.add_all([Course(id="A", title="宪法", hours=2), Course(id="B", title="民法典", hours=1.5)])
        camp = Campaign(id=CID, name="学法月", start=date(2026, 11, 1), end=date(2026, 11, 30), pass_mark=75)
        camp.courses += [
            CampaignCourse(course_id="A", audience="cadre", required=True),
            CampaignCourse(course_id="B", audience="cadre", required=True),
            CampaignCourse(course_id="B", audience="volunteer", required=False),
            CampaignCourse(course_id="A", audience="volunteer", required=True),
        ]
        s.add(camp)
        s.flush()
        ids = {}
        for username, aud, role in [("best", "cadre", "learner"), ("edge", "cadre", "learner"),
                                    ("reader", "cadre", "learner"), ("late", "volunteer", "learner"),
                                    ("lastday", "volunteer", "learner"), ("teacher", "cadre", "trainer"),
                                    ("boss", "cadre", "admin")]:
            p = Learner(username=username, name=username.upper(), unit_id=unit.id, audience=aud, role=role)
            s.add(p)
            s.flush()
            ids[username] = p.id

        def res(who, course, score, when, attempt=1):
            # ``passed`` is the course's own verdict (pass mark 60); the campaign's 75 rules here
            s.add(Result(learner_id=ids[who], course_id=course, assignment="module", attempt=attempt,
                         score=score, max_score=20, passed=score >= 12, submitted_at=when))

        # best attempt counts, not the latest: 16/20 = 80 then 10/20 = 50
        res("best", "A", 16, datetime(2026, 11, 2, 10))
        res("best", "A", 10, datetime(2026, 11, 3, 10), attempt=2)
        res("best", "B", 18, datetime(2026, 11, 4, 10))
        # exactly the pass mark (15/20 = 75) passes; 14/20 = 70 passes the course but not the campaign
        res("edge", "A", 15, datetime(2026, 11, 2, 10))
        res("edge", "B", 14, datetime(2026, 11, 2, 11))
        s.add(LearningEvent(learner_id=ids["reader"], client_id="x", kind="section_read", created_at=datetime(2026, 11, 30, 23, 59)))
        res("late", "A", 20, datetime(2026, 12, 1, 0, 5))
        res("lastday", "A", 20, datetime(2026, 11, 30, 23, 59))
        res("lastday", "B", 20, datetime(2026, 11, 15, 9))  # elective: hours, not completion
        res("teacher", "A", 20, datetime(2026, 11, 2, 9))  # a trainer trying out their quiz
    return records_url


def by_user(url):
    return {p.username: p for p in completion.progress(url, CID)}


def test_only_learners_are_counted(url):
    """Trainers and administrators run the campaign; they are not in 应学 (they have no 我的学习)
    and a trainer trying a quiz does not count as anyone's result."""
    assert set(by_user(url)) == {"best", "edge", "reader", "late", "lastday"}


def test_best_attempt_and_completion_time(url):
    p = by_user(url)["best"]
    assert p.status == completion.COMPLETE and p.complete
    assert p.completed_at == datetime(2026, 11, 4, 10)
    assert (p.n_passed, p.n_required, p.hours) == (2, 2, 3.5)
    assert p.passed_courses == ["宪法", "民法典"]


def test_campaign_pass_mark_is_inclusive_and_overrides_course_flag(url):
    p = by_user(url)["edge"]
    assert p.status == completion.FAILED and p.status_label == "未合格"
    assert (p.n_passed, p.hours) == (1, 2.0)


def test_a_learning_event_on_the_last_day_is_participation(url):
    p = by_user(url)["reader"]
    assert p.status == completion.IN_PROGRESS and p.status_label == "未完成"


def test_late_and_last_minute(url):
    people = by_user(url)
    assert people["late"].status == completion.LATE and people["late"].status_label == "逾期完成"
    assert people["lastday"].status == completion.COMPLETE
    assert people["lastday"].hours == 3.5  # the elective B counts towards hours
    assert people["lastday"].audience_label == "法律明白人"


def test_progress_for_some_usernames_and_unknown_campaign(url):
    assert [p.username for p in completion.progress(url, CID, ["late"])] == ["late"]
    with pytest.raises(completion.CampaignNotFound):
        completion.progress(url, "nope")


def test_days_left():
    camp = completion.CampaignInfo("x", "x", date(2026, 11, 1), date(2026, 11, 30), 60)
    assert camp.days_left(date(2026, 11, 30)) == 1
    assert camp.days_left(date(2026, 12, 1)) == 0
    assert len(camp.days()) == 30
