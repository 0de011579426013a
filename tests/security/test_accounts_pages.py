"""Attacks on the account pages (issue 16) over real HTTP: a learner or trainer reaching the
administrators' 账号管理/审计日志 (pages, exports and form posts, with a session or their
kernel's token), a learner changing someone else's password, forged cross-site form posts, and
markup in the search box. Each refused attempt is checked against the records DB (password
hashes, audit log untouched); the only act that succeeds is an administrator's harmless 解锁 of
``spare2`` (the control that the XSRF token, not something else, made the difference)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from grading.records import audit
from grading.records.db import session_scope
from grading.records.models import Credential, Learner
from tests.security.conftest import INITIAL_PASSWORD

pytestmark = pytest.mark.integration

ADMIN_PAGES = ["xuefa/accounts", "xuefa/accounts?q=spare2", "xuefa/audit",
               "xuefa/audit?format=csv", "xuefa/audit?format=xlsx"]


def xsrf(session) -> str:
    return next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))


def password_hash(target, username: str) -> str:
    with session_scope(target.datadir.records_db_url) as s:
        return s.scalar(select(Credential.password_hash).join(Learner)
                        .where(Learner.username == username))


def audit_count(target) -> int:
    return len(audit.entries(target.datadir.records_db_url, limit=None))


@pytest.mark.parametrize("username", ["learner1", "trainer1"])
def test_only_administrators_reach_the_account_and_audit_pages(target, username):
    s = target.login(username)
    before, hashes = audit_count(target), password_hash(target, "admin1")
    for page in ADMIN_PAGES:
        r = s.get(f"{target.url}/hub/{page}", timeout=30)
        assert r.status_code == 403, (page, r.status_code)
        assert "只有管理员" in r.text
    s.get(f"{target.url}/hub/home", timeout=30)
    for action in ("reset", "unlock", "deactivate", "role"):
        r = s.post(f"{target.url}/hub/xuefa/accounts", timeout=30,
                   data={"username": "admin1", "action": action, "role": "learner", "_xsrf": xsrf(s)})
        assert r.status_code == 403, (action, r.status_code)
    assert password_hash(target, "admin1") == hashes and audit_count(target) == before


def test_a_learners_kernel_token_does_not_open_the_admin_pages(target, attacker):
    for page in ADMIN_PAGES:
        r = attacker.session.get(f"{target.url}/hub/{page}", timeout=30,
                                 headers={"Authorization": f"token {attacker.token}"})
        assert r.status_code == 403, page
    r = attacker.session.post(f"{target.url}/hub/xuefa/accounts", timeout=30,
                              headers={"Authorization": f"token {attacker.token}"},
                              data={"username": "admin1", "action": "reset"})
    assert r.status_code == 403


def test_a_learner_cannot_change_another_persons_password(target):
    s = target.login("learner1")
    own, other, before = password_hash(target, "learner1"), password_hash(target, "spare2"), audit_count(target)
    s.get(f"{target.url}/hub/xuefa/password", timeout=30)
    # naming the other account (with ITS password) in the form and the URL: the page only ever
    # uses the session's account (one try: wrong old passwords count in the login throttle)
    r = s.post(f"{target.url}/hub/xuefa/password?username=spare2&user=spare2", timeout=60,
               data={"username": "spare2", "user": "spare2", "name": "spare2",
                     "old_password": INITIAL_PASSWORD,
                     "new_password": "Hijacked2026", "confirm_password": "Hijacked2026",
                     "_xsrf": xsrf(s)})
    assert r.status_code == 400 and "原密码不正确" in r.text
    assert password_hash(target, "spare2") == other and password_hash(target, "learner1") == own
    assert audit_count(target) == before


def test_forged_cross_site_posts_without_the_xsrf_token_are_refused(target):
    admin = target.login("admin1")
    learner = target.login("learner1")
    before, hashes = audit_count(target), password_hash(target, "spare2")
    r = admin.post(f"{target.url}/hub/xuefa/accounts", timeout=30,
                   data={"username": "spare2", "action": "unlock"})
    assert r.status_code == 403
    r = learner.post(f"{target.url}/hub/xuefa/password", timeout=30,
                     data={"old_password": target.passwords["learner1"], "new_password": "Forged2026x",
                           "confirm_password": "Forged2026x"})
    assert r.status_code == 403
    assert password_hash(target, "spare2") == hashes and audit_count(target) == before
    assert target.try_login("learner1", target.passwords["learner1"]).status_code == 302
    # the same forms with the page's token do reach the pages: the token made the difference
    admin.get(f"{target.url}/hub/xuefa/accounts", timeout=30)
    r = admin.post(f"{target.url}/hub/xuefa/accounts", timeout=30,
                   data={"username": "spare2", "action": "unlock", "_xsrf": xsrf(admin)})
    assert r.status_code == 200 and "已解锁" in r.text
    assert audit_count(target) == before + 1
    learner.get(f"{target.url}/hub/xuefa/password", timeout=30)
    r = learner.post(f"{target.url}/hub/xuefa/password", timeout=30,
                     data={"old_password": target.passwords["learner1"], "new_password": "Forged2026x",
                           "confirm_password": "Mismatch2026x", "_xsrf": xsrf(learner)})
    assert r.status_code == 400 and "不一致" in r.text


def test_markup_typed_in_the_search_box_is_escaped(target):
    admin = target.login("admin1")
    payload = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"
    for page in ("xuefa/accounts", "xuefa/audit"):
        r = admin.get(f"{target.url}/hub/{page}", params={"q": payload, "person": payload}, timeout=30)
        assert r.status_code == 200
        assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text
