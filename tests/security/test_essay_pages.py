"""阅卷 over real HTTP (issue 15): the Chinese essay-grading pages ``/hub/xuefa/essays...``.

A learner of the 述法 course submits for real (nbgrader submit into the exchange, graded by the
running grading service: the report waits for a trainer); trainer1 (listed in shufa's
``course.yaml``) grades it on the page; the learner then reads score and comment from the
records service, where the quiz page's 查看成绩 reads them. Attacks: a learner, a trainer not
listed on shufa and a unit administrator get 403 on every URL; the learner's ``<script>`` is
shown as text; an out-of-range score is refused with the field named; no XSRF token, no act;
the rendered pages carry no English.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
import requests
from bs4 import BeautifulSoup

from tests.security.conftest import INITIAL_PASSWORD

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEARNER = "lressay1"        # a 干部 learner made here: shufa is for 干部
OTHER_TRAINER = "trainer7"  # a trainer not on shufa's trainers list
UNIT_ADMIN = "unitadm7"     # an administrator with a 管理范围: not a grader
MARK = uuid.uuid4().hex[:8]
HOSTILE = "<script>alert('essay')</script><img src=x onerror=alert(2)>"
REPORT = f"本人述法报告{MARK}：带头学法，负责人出庭应诉两件。{HOSTILE}"
COMMENT = f"评语{MARK}：事例具体，败诉整改还要写清楚。"
BASE = "/hub/xuefa/essays"


def visible_text(page: str) -> str:
    soup = BeautifulSoup(page, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    parts = [soup.get_text(" ")]
    for tag in soup.find_all(True):
        for attr in ("title", "aria-label", "placeholder", "alt"):
            if tag.get(attr):
                parts.append(str(tag[attr]))
    return " ".join(parts)


def english(page: str, *allowed: str) -> list[str]:
    """ASCII words on the page, leaving out the learner's own text (their report) and names."""
    text = visible_text(page)
    for word in (HOSTILE, MARK, *allowed):
        text = text.replace(word, " ")
    return re.findall(r"[A-Za-z]{2,}", text)


def xsrf(session) -> str:
    return next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))


def add_people(target) -> None:
    """A 干部 learner, a second trainer and a unit administrator, in the records DB and (for
    the hub's groups) in the hub, as a roster import would make them."""
    from grading.records.accounts import hash_password
    from grading.records.db import session_scope
    from grading.records.models import Credential, Learner

    with session_scope(target.datadir.records_db_url) as s:
        ref = s.query(Learner).filter_by(username="learner1").one()
        for username, role, scope in [(LEARNER, "learner", None), (OTHER_TRAINER, "trainer", None),
                                      (UNIT_ADMIN, "admin", ref.unit_id)]:
            if s.query(Learner).filter_by(username=username).first() is None:
                p = Learner(username=username, name=f"测试{username[-1]}号", unit_id=ref.unit_id,
                            audience="cadre", role=role, admin_scope_unit_id=scope)
                p.credential = Credential(password_hash=hash_password(INITIAL_PASSWORD), must_change=True)
                s.add(p)
    for username, group in [(LEARNER, "role-learner"), (OTHER_TRAINER, "role-trainer"),
                            (UNIT_ADMIN, "role-admin")]:
        r = target.api("POST", f"/users/{username}")
        assert r.status_code in (201, 409), r.text
        r = target.api("POST", f"/groups/{group}/users", json={"users": [username]})
        assert r.status_code == 200, r.text


@pytest.fixture(scope="module")
def essay(target):
    from hub_config.tools import bench
    from hub_config.tools.platform import wait_for
    from grading.records import results
    from widgets.exchange_files import write_essays

    add_people(target)
    nb_dir = bench.learner_copy(target.datadir, "shufa", LEARNER)
    answers = {"q06": False, "q11": REPORT}
    (nb_dir / "assessment.answers.json").write_text(json.dumps(answers, ensure_ascii=False),
                                                    encoding="utf-8")
    write_essays(nb_dir / "assessment.ipynb", answers, ["q11"])
    bench.submit(target.datadir, "shufa", LEARNER, nb_dir)
    url = target.datadir.records_db_url
    row = wait_for(lambda: results.effective_result(url, LEARNER, "shufa", "module"), timeout=240)
    assert row.outcome == "needs_manual", (row.outcome, row.message)
    return row


def test_only_the_courses_trainers_and_admins_get_in(target, essay, attacker):
    learner = target.login(LEARNER)
    other = target.login(OTHER_TRAINER)
    unit_admin = target.login(UNIT_ADMIN)
    for who in (learner, attacker.session, other, unit_admin):
        for path in (BASE, f"{BASE}/shufa", f"{BASE}/shufa/{LEARNER}", f"{BASE}/shufa/learner1",
                     f"{BASE}/pingtai_rumen", f"{BASE}/shufa/..%2F{LEARNER}"):
            r = who.get(f"{target.url}{path}", timeout=60)
            if path == BASE and who is other:
                # a trainer may open the list: it holds none of shufa
                assert r.status_code == 200 and MARK not in r.text and "没有需要您评阅的课程" in r.text
                continue
            assert r.status_code in (403, 404), (path, r.status_code)
            assert MARK not in r.text
        r = who.post(f"{target.url}{BASE}/shufa/{LEARNER}", timeout=60,
                     data={"_xsrf": xsrf(who), "score-q11": "40", "comment-q11": "自己给满分"})
        assert r.status_code == 403, r.status_code
    from grading.records import results

    row = results.effective_result(target.datadir.records_db_url, LEARNER, "shufa", "module")
    assert row.outcome == "needs_manual" and "自己给满分" not in (row.message or "")
    # a learner's hub home has no 阅卷 link; a trainer's has
    assert "xf-essays-link" not in learner.get(f"{target.url}/hub/home", timeout=60).text
    assert "xf-essays-link" in other.get(f"{target.url}/hub/home", timeout=60).text


def test_trainer_grades_on_the_page_and_the_learner_sees_score_and_comment(target, essay):
    from grading.records import audit

    trainer = target.login("trainer1")
    listing = trainer.get(f"{target.url}{BASE}", timeout=60)
    assert listing.status_code == 200 and 'data-course="shufa"' in listing.text, listing.text[-2000:]
    assert not english(listing.text, "trainer1"), english(listing.text, "trainer1")
    course = trainer.get(f"{target.url}{BASE}/shufa", timeout=60)
    assert course.status_code == 200 and f'data-learner="{LEARNER}"' in course.text
    assert not english(course.text, "trainer1"), english(course.text, "trainer1")

    page = trainer.get(f"{target.url}{BASE}/shufa/{LEARNER}", timeout=60)
    assert page.status_code == 200
    # the learner's markup is text on the page, never an element
    assert MARK in page.text and "<script>alert('essay')" not in page.text
    assert "&lt;script&gt;alert(" in page.text and "<img src=x" not in page.text
    assert "评分要点" in page.text and "得分" in page.text and "评语" in page.text
    assert not english(page.text, "trainer1"), english(page.text, "trainer1")
    stamp = re.search(r'name="stamp" value="([^"]*)"', page.text).group(1)

    # no XSRF token: the hub refuses
    r = trainer.post(f"{target.url}{BASE}/shufa/{LEARNER}", timeout=60,
                     data={"stamp": stamp, "score-q11": "30", "comment-q11": "没有令牌"})
    assert r.status_code == 403
    # out of range: refused, the field named, nothing saved
    for bad in ("41", "-2", "很好"):
        r = trainer.post(f"{target.url}{BASE}/shufa/{LEARNER}", timeout=60,
                         data={"_xsrf": xsrf(trainer), "stamp": stamp, "score-q11": bad,
                               "comment-q11": COMMENT})
        assert r.status_code == 400 and "“得分”" in r.text, (bad, r.status_code)
        assert not english(r.text, "trainer1")

    r = trainer.post(f"{target.url}{BASE}/shufa/{LEARNER}", timeout=60,
                     data={"_xsrf": xsrf(trainer), "stamp": stamp, "score-q11": "32",
                           "comment-q11": COMMENT})
    assert r.status_code == 200 and "已保存" in r.text, r.text[-2000:]
    assert "已评阅" in r.text

    # the learner: their own results from the records service (what 查看成绩 shows)
    learner = target.login(LEARNER)
    tok = learner.post(f"{target.url}/hub/api/users/{LEARNER}/tokens", timeout=30,
                       json={"note": "essay", "expires_in": 600}, headers={"X-XSRFToken": xsrf(learner)})
    assert tok.status_code in (200, 201), tok.text
    res = requests.get(f"{target.url}/services/records/api/results",
                       params={"course": "shufa", "assignment": "module"},
                       headers={"Authorization": f"token {tok.json()['token']}"}, timeout=60)
    assert res.status_code == 200, res.text
    [mine] = [x for x in res.json()["results"] if x.get("outcome") == "ok"]
    assert mine["score"] == essay.score + 32, (mine["score"], essay.score)
    assert COMMENT in mine["message"] and "简答题已由讲师评阅" in mine["message"], mine["message"]
    # audited with the trainer's name
    entry = next(e for e in audit.entries(target.datadir.records_db_url, action="grade_manual")
                 if e.target == LEARNER)
    assert entry.actor == "trainer1"


def test_formgrader_of_shufa_only_for_its_trainers(target, essay):
    """Today every trainer could open every course's formgrader; now only the listed ones."""
    import time

    def status(session) -> int:
        deadline = time.monotonic() + 120
        while True:  # the service may still be starting (503 from the proxy)
            r = session.get(f"{target.url}/services/formgrader-shufa/formgrader", timeout=60)
            if r.status_code not in (502, 503) or time.monotonic() > deadline:
                return r.status_code
            time.sleep(2)

    assert status(target.login(OTHER_TRAINER)) == 403
    assert status(target.login(LEARNER)) == 403
    assert status(target.login("trainer1")) == 200
    home = target.login(OTHER_TRAINER).get(f"{target.url}/hub/home", timeout=60).text
    assert "formgrader-shufa" not in home
