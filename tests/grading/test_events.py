"""grading.records.events: learners' events recorded once per client_id; own results only."""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import func, select

from grading.records.db import session_scope
from grading.records.events import BadEvent, record_event, results_for
from grading.records.models import Audience, Learner, LearningEvent, Result, Role, Unit


@pytest.fixture
def people(records_url):
    with session_scope(records_url) as s:
        unit = Unit(path="海安市", name="海安市", level=0)
        s.add(unit)
        s.flush()
        for name in ("ganbu1", "zhengfa1"):
            s.add(Learner(username=name, name=name, unit_id=unit.id, audience=Audience.cadre,
                          role=Role.learner))
    return records_url


def count(url):
    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(LearningEvent))


def test_record_once_per_client_id(people):
    ev = {"client_id": "abc", "kind": "practice_answered", "course_id": "demo", "item": "p1",
          "correct": True, "payload": {"dwell_time": 5, "tries": 2}}
    first = record_event(people, "ganbu1", ev)
    again = record_event(people, "ganbu1", ev)
    assert first.created and not again.created and first.id == again.id
    assert record_event(people, "zhengfa1", ev).created  # client ids are per learner
    assert count(people) == 2
    with session_scope(people) as s:
        assert s.get(LearningEvent, first.id).payload == {"tries": 2}


def test_unknown_learner_and_bad_events(people):
    assert record_event(people, "nobody", {"client_id": "x", "kind": "lesson_opened"}) is None
    for bad in ({"kind": "lesson_opened"}, {"client_id": "x", "kind": "time_on_page"},
                {"client_id": "x" * 65, "kind": "lesson_opened"},
                {"client_id": "x", "kind": "lesson_opened", "correct": "yes"}, ["x"]):
        with pytest.raises(BadEvent):
            record_event(people, "ganbu1", bad)
    assert count(people) == 0


def test_results_for_is_own_results(people):
    with session_scope(people) as s:
        ids = {row.username: row.id for row in s.scalars(select(Learner))}
        for user, attempt, score in (("ganbu1", 2, 80), ("ganbu1", 1, 50), ("zhengfa1", 1, 99)):
            s.add(Result(learner_id=ids[user], course_id="demo", assignment="module",
                         attempt=attempt, score=score, max_score=100, passed=score >= 60,
                         details=[{"id": "q1"}], submitted_at=datetime(2026, 11, 2)))
    rows = results_for(people, "ganbu1", "demo", "module")
    assert [r["score"] for r in rows] == [50, 80] and rows[1]["passed"]
    assert results_for(people, "ganbu1", "other", "module") == []
