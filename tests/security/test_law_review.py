"""述法评议 over real HTTP (issue 17 acceptance): three reviewers score one leader's report on
``/hub/xuefa/review``; a reviewer cannot read another's score before submitting their own; the
mean and every comment reach the leader's page (anonymised) and the dashboard; a learner not
on the panel gets 403; the leader's hostile report text is shown as text.

The report is put where a graded 提交 leaves it (the grader's escaped essay in the course
root's ``autograded/`` notebook, a ``needs_manual`` Result), so this file needs no learner
server or grading kernel; tests/security/test_grading_sandbox.py covers that path. The panel is what
``xuefa campaign load`` stores for a plan's ``review:`` block (law_review.store_panel), on a
campaign that ended before today (like the other attack files' campaigns: no learner's
我的学习 changes) and that ended before sec-dash did, so it is nobody's latest campaign either.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime

import pytest

from tests.security.conftest import INITIAL_PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CAMPAIGN = "sec-review"
LEADER = "learner1"
REVIEWERS = ["admin1", "trainer1", "learner2"]
OUTSIDER = "lrout1"
RUBRIC = [{"item": "述法内容全面", "points": 40}, {"item": "问题整改具体", "points": 60}]
HOSTILE = "<script>alert('review')</script><img src=x onerror=alert(2)>"
MARK = uuid.uuid4().hex[:8]
REPORT = f"本人述法报告{MARK}：带头学法，重大决策均经合法性审查。{HOSTILE}"
COMMENTS = {"admin1": f"管理员意见{MARK}<b>加粗</b>", "trainer1": f"讲师意见{MARK}：事例具体",
            "learner2": f"评议人意见{MARK}：整改要落实"}
HANDED_IN = datetime(2026, 11, 20, 8)  # during the campaign: a report counts for the campaign it came in
SCORES = {"admin1": ["40", "50"], "trainer1": ["30", "40"], "learner2": ["20", "30"]}  # 90, 70, 50


def hand_in(datadir, username: str, text: str):
    """learner's report where a graded 提交 leaves it: the grader's rebuilt notebook in the
    course root's ``autograded/`` (the essay written escaped, as rebuild.escape_text writes it)
    and a ``needs_manual`` Result in the records DB (what the grading service records)."""
    import nbformat
    from sqlalchemy import func, select

    from grading.grader.rebuild import escape_text
    from grading.records.db import session_scope
    from grading.records.models import Learner, Result

    root = datadir.course_root("shufa")
    nb = nbformat.read(str(root / "release" / "module" / "assessment.ipynb"), as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "q11":
            cell.source = escape_text(text)
    dest = root / "autograded" / username / "module"
    dest.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, str(dest / "assessment.ipynb"))
    with session_scope(datadir.records_db_url) as s:
        learner = s.scalar(select(Learner).where(Learner.username == username))
        attempt = (s.scalar(select(func.max(Result.attempt)).where(
            Result.learner_id == learner.id, Result.course_id == "shufa")) or 0) + 1
        s.add(Result(learner_id=learner.id, course_id="shufa", assignment="module", attempt=attempt,
                     score=6, max_score=100, outcome="needs_manual", message="简答题待讲师评阅",
                     submitted_at=HANDED_IN))


@pytest.fixture(scope="module")
def panel(target):
    from grading.records import law_review
    from grading.records.accounts import hash_password
    from grading.records.db import session_scope
    from grading.records.models import Campaign, CampaignCourse, Credential, Learner

    url = target.datadir.records_db_url
    with session_scope(url) as s:
        if s.get(Campaign, CAMPAIGN) is None:
            camp = Campaign(id=CAMPAIGN, name="述法评议安全测试", start=date(2026, 11, 1),
                            end=date(2026, 11, 29))
            camp.courses.append(CampaignCourse(course_id="shufa", audience="cadre", required=False))
            s.add(camp)
        if s.query(Learner).filter_by(username=OUTSIDER).first() is None:
            unit = s.query(Learner).filter_by(username=LEADER).one().unit_id
            person = Learner(username=OUTSIDER, name="旁观者", unit_id=unit, audience="cadre",
                             role="learner")
            person.credential = Credential(password_hash=hash_password(INITIAL_PASSWORD), must_change=True)
            s.add(person)
    law_review.store_panel(url, CAMPAIGN, {"course": "shufa", "reviewers": REVIEWERS, "rubric": RUBRIC})
    hand_in(target.datadir, LEADER, REPORT)
    return url


@pytest.fixture(scope="module")
def leader(target):
    return target.login(LEADER)


def page(target, session, **params):
    return session.get(f"{target.url}/hub/xuefa/review", params=params, timeout=60)


def post(target, session, **data):
    xsrf = next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))
    return session.post(f"{target.url}/hub/xuefa/review", data={"_xsrf": xsrf, **data}, timeout=60)


def review(target, session, scores, comment):
    return post(target, session, campaign=CAMPAIGN, leader=LEADER, score=scores, comment=comment)


def shown(text: str) -> str:
    """The page's own part (the hub frame's scripts are not the report's)."""
    return text[text.index('id="xf-review"'):]


def test_learners_not_on_the_panel_get_403(target, panel, leader):
    outsider = target.login(OUTSIDER)
    for who in (outsider, leader):  # the leader cannot open the panel's view either
        assert page(target, who, campaign=CAMPAIGN, leader=LEADER).status_code == 403
        assert page(target, who, campaign=CAMPAIGN, leader="learner2").status_code == 403
        r = review(target, who, ["40", "60"], "我给自己打满分好不好")
        assert r.status_code == 403, r.status_code
    listing = page(target, outsider)
    assert listing.status_code == 200 and "您不在任何述法评议小组中" in listing.text
    assert MARK not in listing.text and "学员丙" not in shown(listing.text)
    # no XSRF token, no act (the hub's own check)
    reviewer = target.login("trainer1")
    r = reviewer.post(f"{target.url}/hub/xuefa/review",
                      data={"campaign": CAMPAIGN, "leader": LEADER, "score": ["1", "1"],
                            "comment": "没有令牌的提交"}, timeout=60)
    assert r.status_code == 403


def test_three_reviewers_blind_then_the_mean_reaches_the_leader_and_the_dashboard(target, panel, leader):
    from grading.records import audit
    from grading.reports import queries

    admin, trainer, third = (target.login(u) for u in REVIEWERS)

    # the report, escaped: the markup is text on the page, never an element
    r = page(target, admin, campaign=CAMPAIGN, leader=LEADER)
    assert r.status_code == 200, r.text[:500]
    body = shown(r.text)
    assert f"本人述法报告{MARK}" in body
    assert "<script>alert" not in body and "<img src=x" not in body, body[:2000]
    assert "&lt;script&gt;alert(" in body and "&lt;img src=x onerror=alert(2)&gt;" in body
    assert review(target, admin, SCORES["admin1"], COMMENTS["admin1"]).status_code == 200

    # trainer1 has not scored yet: nothing of admin1's review on the page
    r = page(target, trainer, campaign=CAMPAIGN, leader=LEADER)
    assert r.status_code == 200 and COMMENTS["admin1"][:12] not in r.text
    assert 'id="xf-review-form"' in r.text and "xf-reviews" not in r.text
    over = review(target, trainer, ["41", "0"], "超过满分的评分")
    assert over.status_code == 400 and "0 到 40 分之间" in over.text
    assert review(target, trainer, SCORES["trainer1"], COMMENTS["trainer1"]).status_code == 200
    after = page(target, trainer, campaign=CAMPAIGN, leader=LEADER)
    assert f"管理员意见{MARK}&lt;b&gt;加粗&lt;/b&gt;" in after.text  # now visible, escaped
    assert re.search(r'id="xf-mean">80<', after.text), shown(after.text)[:3000]

    # the leader: in progress, no score or comment yet
    mine = page(target, leader)
    assert "评议进行中" in mine.text and MARK not in mine.text

    assert review(target, third, SCORES["learner2"], COMMENTS["learner2"]).status_code == 200
    again = review(target, third, ["40", "60"], "想改成满分再提交一次")
    assert again.status_code == 400 and "不能修改" in again.text

    mine = shown(page(target, leader).text)
    assert "已完成" in mine and re.search(r'class="xf-mean">70<', mine), mine[:3000]
    for comment in COMMENTS.values():
        assert comment.replace("<", "&lt;").replace(">", "&gt;") in mine
    assert "评议人1" in mine and "评议人3" in mine
    assert "管理员甲" not in mine and "讲师乙" not in mine  # reviewers anonymous to the leader

    # the dashboards: the query and the administrators' page
    units = queries.law_review_by_unit(panel, CAMPAIGN)
    town = units[units["unit"] == "城东镇"].iloc[0]
    assert (town["reports"], town["review_complete"], town["review_mean"]) == (1, 1, 70), units
    from tests.integration.test_dashboards import outputs_text
    from tests.security.test_dashboard_pages import dashboard

    text = outputs_text(dashboard(target, admin, "law_review", CAMPAIGN).text)
    assert "评议完成人数" in text and ">城东镇</td>" in text and "100.0%" in text, text[-2000:]

    acts = [e for e in audit.entries(panel, action="law_review") if e.detail.get("campaign") == CAMPAIGN]
    assert sorted(e.actor for e in acts) == sorted(REVIEWERS)
