"""我的学习 (served by the learner's own server, hub_config.home.server_ext) as an attacker sees
it: a course title typed with markup is shown as text; the page and its 开始学习 belong to the
server's owner alone (another learner is refused by the hub and changes nothing there)."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from tests.security.conftest import Learner

pytestmark = pytest.mark.integration

HOSTILE_TITLE = "法治课<script>alert(1)</script><img src=x onerror=alert(2)>"
HOSTILE_SUMMARY = "'><svg onload=alert(3)>"
COURSE = "sec_home_xss"


@pytest.fixture(scope="module")
def hostile_plan(target) -> None:
    """A running campaign for 干部 (learner1) whose one course has a title a careless clerk or
    a hostile trainer typed."""
    from grading.records.db import session_scope
    from grading.records.models import Campaign, CampaignCourse, Course

    today = date.today()
    with session_scope(target.datadir.records_db_url) as s:
        if s.get(Course, COURSE) is None:
            s.add(Course(id=COURSE, title=HOSTILE_TITLE, hours=1, meta={"summary": HOSTILE_SUMMARY}))
        if s.get(Campaign, "sec-home") is None:
            camp = Campaign(id="sec-home", name="我的学习安全测试<b>月</b>", start=today,
                            end=today + timedelta(days=30))
            camp.courses.append(CampaignCourse(course_id=COURSE, audience="cadre", required=True))
            s.add(camp)


def page_of(target, learner: Learner, owner: str):
    return learner.session.get(f"{target.url}/user/{owner}/xuefa/learning", timeout=120,
                               allow_redirects=False)


def test_hostile_course_text_is_escaped(target, attacker, hostile_plan):
    r = page_of(target, attacker, "learner1")
    assert r.status_code == 200, (r.status_code, r.text[:300])
    assert "学员丙" in r.text  # learner1's own name: their own data
    for raw in ("<script>alert(1)", "<img src=x", "<svg onload", "<b>月</b>"):
        assert raw not in r.text, raw
    assert "法治课&lt;script&gt;alert(1)&lt;/script&gt;" in r.text
    assert "<script" not in r.text  # the page carries no script at all
    assert r.headers.get("X-Content-Type-Options") == "nosniff"


def test_another_learner_cannot_open_or_start_there(target, attacker, hostile_plan):
    other = Learner(target, "learner2")
    r = page_of(target, other, "learner1")
    # the hub refuses the OAuth hand-over to someone else's server
    assert r.status_code in (302, 403), r.status_code
    if r.status_code == 302:
        r = other.session.get(f"{target.url}{r.headers['Location']}" if r.headers["Location"].startswith("/")
                              else r.headers["Location"], timeout=120)
        assert r.status_code == 403, r.status_code
    assert "学员丙" not in r.text
    # 开始学习 on learner1's server, with learner2's own _xsrf from learner2's page: nothing
    # happens in learner1's home (other attack files may have fetched the module before)
    own = page_of(target, other, "learner2")
    assert own.status_code == 200 and "学员丙" not in own.text and "学员丁" in own.text
    token = re.search(r'name="_xsrf" value="([^"]+)"', own.text)
    xsrf = token.group(1) if token else ""
    module = target.datadir.home("learner1") / "pingtai_rumen" / "module"
    before = module.exists()
    r = other.session.post(f"{target.url}/user/learner1/xuefa/learning/start/pingtai_rumen",
                           data={"_xsrf": xsrf}, timeout=120, allow_redirects=False)
    assert r.status_code in (302, 403), r.status_code
    assert "ready=" not in r.headers.get("Location", "")
    assert module.exists() == before


def test_start_from_another_site_is_refused(target, attacker, hostile_plan):
    """A page elsewhere posting to 开始学习 with the learner's cookies but without the page's
    _xsrf: refused."""
    r = attacker.session.post(f"{target.url}/user/learner1/xuefa/learning/start/pingtai_rumen",
                              data={}, timeout=120, allow_redirects=False)
    assert r.status_code == 403, r.status_code
