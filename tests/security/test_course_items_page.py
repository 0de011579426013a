"""Attack: reading another course's item analysis (题目分析, issue 14).

The 题目分析 page (``/services/dashboards/voila/render/course_items.ipynb?course=<id>``) shows
every question of a course with its key, how often each option was chosen and how the strongest
learners fared: a learner must never see it, and a trainer only for the courses whose
``trainers`` list names them. Trainers hold ``access:services!service=dashboards`` since this
page exists, so the dashboards service itself must refuse them every other page (the
administrators' completion reports with names and phone numbers) and every course they do not
teach. Real HTTP through the real proxy and hub OAuth on the shared ``target`` platform.
"""

from __future__ import annotations

import time
from datetime import datetime

import pytest
import requests

from tests.integration.test_dashboards import outputs_text

pytestmark = pytest.mark.integration

PAGE = "course_items.ipynb"
OWN, OTHER = "sec_items_own", "sec_items_other"


@pytest.fixture(scope="module")
def courses(target) -> None:
    from grading.records.db import session_scope
    from grading.records.models import Course

    with session_scope(target.datadir.records_db_url) as s:
        for cid, title, trainers in ((OWN, "讲师乙任教的课", ["trainer1"]),
                                     (OTHER, "别人任教的课", ["someone_else"])):
            if s.get(Course, cid) is None:
                s.add(Course(id=cid, title=title, hours=1, audiences=[], published_at=datetime(2026, 11, 1),
                             meta={"trainers": trainers}))


def get(target, session: requests.Session, page: str, **params) -> requests.Response:
    url = f"{target.url}/services/dashboards/voila/render/{page}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:  # the service may still be warming its kernels
        r = session.get(url, params=params, timeout=180)
        if r.status_code not in (404, 502, 503):
            return r
        time.sleep(1)
    pytest.fail(f"dashboards service never answered {page}:\n" + target.log_text()[-4000:])


def test_a_trainer_sees_item_analysis_of_their_own_course_only(target, courses):
    trainer = target.login("trainer1")
    own = get(target, trainer, PAGE, course=OWN)
    assert own.status_code == 200, own.text[:500]
    shown = outputs_text(own.text)
    assert "讲师乙任教的课" in shown and "题目分析" in shown, shown[-1500:]
    assert "别人任教的课" not in shown  # not even offered as a link

    assert get(target, trainer, PAGE, course=OTHER).status_code == 403
    assert get(target, trainer, PAGE, course=[OWN, OTHER]).status_code == 403
    # the administrators' pages and the notebook listing stay theirs
    for page in ("overview.ipynb", "laggards.ipynb", "items.ipynb"):
        assert get(target, trainer, page, campaign="x").status_code == 403, page
    for listing in ("voila/tree", "voila/api/contents/"):
        r = trainer.get(f"{target.url}/services/dashboards/{listing}", timeout=60)
        assert r.status_code == 403 and "laggards" not in r.text, listing
    # the hub's services menu links to the service root: trainers land on their page instead
    r = trainer.get(f"{target.url}/services/dashboards/", timeout=60)
    assert r.status_code == 200 and r.url.split("?")[0].endswith(PAGE), r.url
    assert "讲师乙任教的课" in outputs_text(r.text) and "laggards" not in r.text


def test_a_learner_gets_403_for_item_analysis(target, courses):
    learner = target.login("learner2")
    for course in (OWN, OTHER):
        r = get(target, learner, PAGE, course=course)
        assert r.status_code == 403, (course, r.status_code, r.text[:300])
        assert "题目分析" not in r.text


def test_a_forged_viewer_header_changes_nothing(target, courses):
    # the page learns who asks from a header the service sets; one sent by the browser is dropped
    trainer = target.login("trainer1")
    r = get(target, trainer, PAGE, course=OTHER)
    assert r.status_code == 403
    trainer.headers["X-Xuefa-Viewer"] = '{"name": "admin1", "admin": true}'
    r = get(target, trainer, PAGE, course=OWN)
    assert r.status_code == 200
    assert "别人任教的课" not in outputs_text(r.text)
