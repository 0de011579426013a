"""The records service on the real platform (``xuefa up``), over real HTTP through the proxy:
a learner's token records that learner's event (the username comes from the hub, not the
body), requests without a token or without access to the service are refused, a learner
reads only their own results, and rows land in the records DB.

Learners' tokens are the ones they make for themselves after logging in through the real
form (the ``xuefa-cli`` admin token has no ``tokens`` scope, by design)."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import requests
from sqlalchemy import select, update

from grading.records.db import session_scope
from grading.records.models import Learner, LearningEvent, Result

pytestmark = pytest.mark.integration

RECORDS = "access:services!service=records"
SCORES = {"learner1": 90.0, "learner2": 40.0}


@pytest.fixture(scope="module")
def hub_env():
    # only the records service is under test; the others cost CPU at start-up, and a
    # formgrader slow to answer under load makes the hub give up starting
    return {"XUEFA_DISABLE_SERVICES": "dashboards,grading,formgrader,idle-culler"}


@pytest.fixture(scope="module")
def records(hub):
    """The platform with one graded attempt per learner in :data:`SCORES`, once the records
    service answers through the proxy."""
    url = hub.datadir.records_db_url
    with session_scope(url) as s:
        ids = dict(s.execute(select(Learner.username, Learner.id)
                             .where(Learner.username.in_(SCORES))).all())
        for name, score in SCORES.items():
            s.add(Result(learner_id=ids[name], course_id="demo", assignment="module", attempt=1,
                         score=score, max_score=100, passed=score >= 60,
                         details=[{"id": "q1", "correct": score >= 60}],
                         submitted_at=datetime(2026, 11, 1)))
    deadline = time.monotonic() + 60
    while requests.get(f"{hub.url}/services/records/", timeout=30).status_code != 200:
        assert time.monotonic() < deadline, \
            f"records service not reachable:\n{hub.log_text()[-3000:]}"
        time.sleep(0.5)
    return hub


def user_token(hub, username: str, scopes: list[str] | None = None) -> str:
    """A token the person makes for themself (logged in through the real form)."""
    session = hub.login(username)
    xsrf = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))
    body = {"note": "test", "expires_in": 3600} | ({"scopes": scopes} if scopes is not None else {})
    r = session.post(f"{hub.url}/hub/api/users/{username}/tokens", json=body,
                     headers={"X-XSRFToken": xsrf}, timeout=30)
    assert r.status_code in (200, 201), r.text
    return r.json()["token"]


def call(method: str, url: str, token: str | None = None, body=None) -> requests.Response:
    headers = {"Authorization": f"token {token}"} if token else {}
    return requests.request(method, url, headers=headers, json=body, timeout=60)


def events_of(url: str) -> list[tuple[str, str, str]]:
    with session_scope(url) as s:
        rows = s.execute(select(Learner.username, LearningEvent.kind, LearningEvent.client_id)
                         .join(Learner, Learner.id == LearningEvent.learner_id)).all()
        return [tuple(r) for r in rows]


def test_learner_records_own_events_only(records):
    hub, db = records, records.datadir.records_db_url
    api = f"{hub.url}/services/records/api/events"
    learner1 = user_token(hub, "learner1", [RECORDS])
    event = {"client_id": "c-1", "kind": "section_read", "course_id": "demo",
             "lesson": "lesson1", "item": "一", "correct": None, "payload": {"seconds": 99},
             "username": "learner2", "learner_id": 2}  # spoofing fields are ignored

    r = call("POST", api, learner1, event)
    assert r.status_code == 201, r.text
    assert events_of(db) == [("learner1", "section_read", "c-1")]
    with session_scope(db) as s:
        row = s.scalar(select(LearningEvent))
        assert row.payload == {}  # no time-on-page evidence is stored

    # a retried post is recorded once
    r = call("POST", api, learner1, event)
    assert r.status_code == 200 and r.json()["created"] is False
    assert len(events_of(db)) == 1

    # refused: no token, a bad token, a token without access to the service
    assert call("POST", api, None, {**event, "client_id": "c-2"}).status_code == 403
    assert call("POST", api, "not-a-token", {**event, "client_id": "c-3"}).status_code == 403
    narrow = user_token(hub, "learner1", ["read:users:name!user=learner1"])
    assert call("POST", api, narrow, {**event, "client_id": "c-4"}).status_code == 403
    # a hub user who is not on the roster: spare1's hub account and token outlive their
    # roster entry (renamed away in the records DB)
    stranger = user_token(hub, "spare1", [RECORDS])
    with session_scope(db) as s:
        s.execute(update(Learner).where(Learner.username == "spare1")
                  .values(username="spare1_gone"))
    assert call("POST", api, stranger, {**event, "client_id": "c-5"}).status_code == 403
    # malformed events are refused with a reason
    r = call("POST", api, learner1, {"client_id": "c-6", "kind": "time_on_page"})
    assert r.status_code == 400 and "未知的事件类型" in r.json()["error"]
    assert events_of(db) == [("learner1", "section_read", "c-1")]

    # another learner's token records under that learner
    learner2 = user_token(hub, "learner2", [RECORDS])
    assert call("POST", api, learner2, {**event, "client_id": "c-1"}).status_code == 201
    assert sorted(events_of(db)) == [("learner1", "section_read", "c-1"),
                                     ("learner2", "section_read", "c-1")]


def test_learner_reads_own_results_only(records):
    hub = records
    api = f"{hub.url}/services/records/api/results?course=demo&assignment=module"
    learner1 = user_token(hub, "learner1", [RECORDS])
    r = call("GET", api, learner1)
    assert r.status_code == 200, r.text
    assert [x["score"] for x in r.json()["results"]] == [90.0]
    assert call("GET", api + "&user=learner2", learner1).json()["results"][0]["score"] == 90.0
    assert call("GET", api, None).status_code == 403
    me = call("GET", f"{hub.url}/services/records/api/me/learning", learner1)
    assert me.status_code in (200, 404)
