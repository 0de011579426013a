"""Exam rules hold server-side (issue 14): a learner works against the real platform -- their
own token over real HTTP to the records service, submissions by nbgrader submit from their own
kernel, graded by the real grading service -- and

- no key, 解析 or unused bank question is in any ``/paper`` or ``/results`` answer (nor in the
  released feedback) before the reveal rule allows it (here: after the last attempt);
- a paper token that is not theirs, or a paper already handed in, is refused and costs nothing;
- a fourth submission is refused with the Chinese message, and no fourth paper is handed out.

The course is a copy of the shipped bank course ``weichengnian`` under an id of its own,
published into the running platform, so no other test's learner state touches it.
"""

from __future__ import annotations

import shutil

import pytest
import requests
import yaml

from tests.security.conftest import Learner  # noqa: F401 (the attacker fixture's class)

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SOURCE = "weichengnian"
COURSE = "exam_rules_attack"
RULES = {"attempts": 3, "show": "wrong", "key": "after", "counts": "best"}

SUBMIT = r"""
import json, shutil
from widgets.exchange import exchange_app
from widgets.home import fetch_module, home_dir, module_dir
course, username = {course!r}, {username!r}
shutil.rmtree(module_dir(course), ignore_errors=True)
d = fetch_module(course)
(d / "assessment.answers.json").write_text(json.dumps({answers!r}, ensure_ascii=False), encoding="utf-8")
sub = exchange_app("Submit", course=course, assignment="module", assignment_dir=home_dir(),
                   path_includes_course=True, student_id=username, quiet=True)
sub.start()
print(json.dumps({{"timestamp": str(sub.timestamp)}}))
"""


def _secrets(q: dict) -> list[str]:
    """The texts that must not leave the server before the reveal: 解析 (also of sub-questions)."""
    out = [q["explanation"]] if q.get("explanation") else []
    for sq in q.get("questions") or []:
        out += _secrets(sq)
    return [s for s in out if len(s) >= 8]


@pytest.fixture(scope="module")
def exam(target, tmp_path_factory):
    """The bank course published into the running platform; returns its bank questions."""
    from grading.content.publish import publish_course
    from tests.integration.conftest import REPO

    src = REPO / "courses" / SOURCE
    dst = tmp_path_factory.mktemp("courses") / COURSE
    shutil.copytree(src, dst)
    spec = yaml.safe_load((dst / "course.yaml").read_text(encoding="utf-8"))
    spec["id"] = COURSE
    spec["title"] = "考试规则攻击测试"
    spec["exam"] = RULES
    (dst / "course.yaml").write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    publish_course(target.datadir, COURSE, source=dst)
    return yaml.safe_load((src / "bank.yaml").read_text(encoding="utf-8"))["questions"]


def api(target, learner, path: str) -> requests.Response:
    return requests.get(f"{target.url}/services/records/api/{path}",
                        params={"course": COURSE, "assignment": "module"},
                        headers={"Authorization": f"token {learner.token}"}, timeout=60)


def submit(target, learner, answers: dict):
    """nbgrader submit from the learner's kernel; the Result once graded (or refused)."""
    return learner.submit(COURSE, SUBMIT.format(course=COURSE, username=learner.username,
                                                answers=answers))


def feedback_pages(target) -> str:
    pages = (p.read_text(encoding="utf-8", errors="replace")
             for p in sorted((target.datadir.exchange / COURSE / "feedback").glob("*.html")))
    return "".join(pages)


def assert_nothing_revealed(text: str, bank: list[dict], drawn: set[str] | None = None) -> None:
    for q in bank:
        for s in _secrets(q):
            assert s not in text, f"解析 of {q['id']} leaked: {s}"
        if drawn is not None and q["id"] not in drawn:
            assert q["stem" if "stem" in q else "scenario"] not in text, f"unused bank question {q['id']} leaked"
    assert '"key"' not in text and '"explanation"' not in text and '"partial"' not in text


def test_a_paper_token_that_is_not_the_learners_is_refused_and_costs_no_attempt(target, attacker, exam):
    from hub_config.records_service import draw_paper

    mine = api(target, attacker, "paper")
    assert mine.status_code == 200, mine.text[:500]
    # learner2's paper, drawn the way the service draws it; its token reaches the attacker
    theirs = draw_paper(target.datadir.records_db_url, target.datadir, "learner2", COURSE, "module")
    assert theirs["token"] != mine.json()["token"]
    r = submit(target, attacker, {"__paper__": theirs["token"]})
    assert (r.outcome, r.score) == ("refused", 0.0), (r.outcome, r.message)
    assert r.message.startswith("试卷已失效"), r.message
    again = api(target, attacker, "paper").json()
    assert (again["attempt"], again["used"], again["token"]) == (1, 0, mine.json()["token"])


def test_no_key_before_the_rule_allows_and_a_fourth_submission_is_refused(target, attacker, exam):
    seen_tokens = []
    for n in (1, 2, 3):
        r = api(target, attacker, "paper")
        assert r.status_code == 200, r.text[:500]
        paper = r.json()
        assert (paper["attempt"], paper["used"], paper["max"]) == (n, n - 1, 3), paper
        drawn = {q["id"] for q in paper["questions"]}
        assert len(drawn) == 12 and paper["token"] not in seen_tokens
        assert_nothing_revealed(r.text, exam, drawn)
        assert api(target, attacker, "paper").json()["token"] == paper["token"]  # a reload: same paper
        seen_tokens.append(paper["token"])
        res = submit(target, attacker, {"__paper__": paper["token"]})  # nothing answered: fails
        assert res.outcome == "ok" and not res.passed, (res.outcome, res.message)
        assert f"您已提交 {n} 次" in res.message, res.message
        results = api(target, attacker, "results")
        assert results.status_code == 200
        if n < 3:
            assert results.json()["reveal"] == "wrong"
            assert_nothing_revealed(results.text, exam)
            assert_nothing_revealed(feedback_pages(target), exam)
            assert all("correct" in d for d in results.json()["results"][-1]["details"])
            # handing in the same paper again is refused and costs nothing
            stale = submit(target, attacker, {"__paper__": paper["token"]})
            assert stale.outcome == "refused" and "试卷已失效" in stale.message, stale.message
    # the last attempt is used: now the key and 解析 may be shown (the control: the test sees them)
    shown = api(target, attacker, "results")
    assert shown.json()["reveal"] == "key"
    assert any(s in shown.text for q in exam for s in _secrets(q))
    refused = api(target, attacker, "paper")
    assert refused.status_code == 403, refused.text[:300]
    body = refused.json()
    assert body["reason"] == "exhausted" and "3 次" in body["error"] and "questions" not in body
    fourth = submit(target, attacker, {"__paper__": seen_tokens[-1]})
    assert fourth.outcome == "refused", (fourth.outcome, fourth.message)
    assert fourth.message == "您已用完全部 3 次考试机会，本次提交未计分。"
    assert fourth.score == 0.0 and not fourth.passed


def test_the_wrongbook_lists_only_the_learners_own_items(target, attacker, exam):
    r = requests.get(f"{target.url}/services/records/api/wrongbook",
                     headers={"Authorization": f"token {attacker.token}"}, timeout=60)
    assert r.status_code == 200, r.text[:300]
    items = [i for i in r.json()["items"] if i["course_id"] == COURSE]
    assert items and all(i["revealed"] for i in items)  # attempts used up: revealed
    assert len({i["question"]["id"] for i in items}) == len(items)
    anon = requests.get(f"{target.url}/services/records/api/wrongbook", timeout=60)
    assert anon.status_code in (401, 403)
    assert "explanation" not in anon.text
