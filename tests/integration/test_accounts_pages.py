"""账号管理, 审计日志 and 修改密码 on the real hub (issue 16), as an administrator and a learner use
them in the browser: real login form, real XSRF tokens, real hub groups, real login throttle.

One platform (the module's ``hub``) serves every test here, in order; the spare accounts take
the resets, locks and deactivations. Attacks (403s, another's password) are in
``tests/security/test_accounts_pages.py`` on the shared attack platform."""

from __future__ import annotations

import csv
import io
import re
from html.parser import HTMLParser

import openpyxl
import pytest

from tests.integration.conftest import INITIAL_PASSWORD, NEW_PASSWORD, ROSTER

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hub_env():
    # no dashboards, grading or culler needed: cheaper on 2 shared cores
    return {"XUEFA_DISABLE_SERVICES": "dashboards,idle-culler,grading,formgrader"}


@pytest.fixture(scope="module")
def admin(hub):
    return hub.login("admin1")


def xsrf(session) -> str:
    return next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))


def act(hub, session, username, action, **extra):
    session.get(f"{hub.url}/hub/xuefa/accounts", timeout=30)
    return session.post(f"{hub.url}/hub/xuefa/accounts", timeout=60,
                        data={"username": username, "action": action, "_xsrf": xsrf(session), **extra})


def audit_rows(hub, session, person: str) -> list[list[str]]:
    r = session.get(f"{hub.url}/hub/xuefa/audit", params={"person": person, "format": "csv"}, timeout=30)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))[1:]


VOID = {"input", "br", "img", "meta", "link", "hr", "source", "wbr", "area", "col", "base"}


class _Text(HTMLParser):
    """What a reader sees inside the element with id ``root``: text outside script/style plus
    placeholder/title/aria-label/alt and the labels of buttons."""

    def __init__(self, root: str):
        super().__init__()
        self.root, self.parts, self._skip, self._depth = root, [], 0, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if not self._depth:
            if a.get("id") != self.root:
                return
        if tag not in VOID:
            self._depth += 1
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if value and (name in ("placeholder", "title", "aria-label", "alt")
                          or (tag == "input" and name == "value" and a.get("type") in ("submit", "button"))):
                self.parts.append(value)

    def handle_endtag(self, tag):
        if not self._depth or tag in VOID:
            return
        self._depth -= 1
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if self._depth and not self._skip:
            self.parts.append(data)


def english_words(page: str, root: str, data: list[str]) -> set[str]:
    """Latin words in the element ``root`` after removing what is data (accounts, passwords,
    addresses)."""
    p = _Text(root)
    p.feed(page)
    text = " ".join(p.parts)
    assert text.strip(), f"no #{root} on the page"
    for d in sorted(data, key=len, reverse=True):
        text = text.replace(d, " ")
    return set(re.findall(r"[A-Za-z]{2,}", text))


def test_admin_resets_a_learner_who_logs_in_with_the_new_initial_password_and_must_change(hub, admin):
    r = act(hub, admin, "spare1", "reset")
    assert r.status_code == 200, r.text[:500]
    new = re.search(r'id="xf-new-password">([^<]+)<', r.text).group(1)
    assert new != INITIAL_PASSWORD
    # shown once: the page never shows it again
    assert new not in admin.get(f"{hub.url}/hub/xuefa/accounts?q=spare1", timeout=30).text
    assert hub.try_login("spare1", INITIAL_PASSWORD).status_code == 403
    form = hub.try_login("spare1", new)
    assert form.status_code == 200 and 'name="change_nonce"' in form.text  # must change first
    session = hub.login("spare1", new)
    assert hub.whoami(session) == "spare1" and hub.passwords["spare1"] == NEW_PASSWORD
    [row] = [r for r in audit_rows(hub, admin, "spare1") if r[2] == "重置密码"]
    assert row[1] == "admin1" and row[3] == "spare1" and row[5] == "127.0.0.1"
    assert new not in " ".join(row)
    # and the person's own change after login is in the log too, as their own act
    assert any(r[2] == "本人修改密码" and r[1] == "spare1" for r in audit_rows(hub, admin, "spare1"))


def test_unlock_clears_the_hubs_login_pause_of_the_account(hub, admin):
    for _ in range(5):
        assert hub.try_login("spare2", "wrong-password-1").status_code == 403
    # paused from this address: even the right password is refused now
    assert hub.try_login("spare2", INITIAL_PASSWORD).status_code == 403
    r = act(hub, admin, "spare2", "unlock")
    assert r.status_code == 200 and "已解锁" in r.text
    hub.login("spare2")
    assert any(r[2] == "解锁账号" for r in audit_rows(hub, admin, "spare2"))


def test_deactivate_stops_login_and_drops_groups_and_reactivate_restores_them(hub, admin):
    session = hub.login("spare2")
    r = act(hub, admin, "spare2", "deactivate")
    assert r.status_code == 200 and "已停用" in r.text, r.text[:500]
    assert hub.whoami(session) is None  # logged out at once, not after the 5-minute refresh
    assert hub.try_login("spare2", hub.passwords["spare2"]).status_code == 403
    assert "spare2" not in hub.api("GET", "/groups/role-learner").json()["users"]
    r = act(hub, admin, "spare2", "reactivate")
    assert r.status_code == 200 and "已恢复" in r.text
    assert "spare2" in hub.api("GET", "/groups/role-learner").json()["users"]
    hub.login("spare2")
    actions = [r[2] for r in audit_rows(hub, admin, "spare2")]
    assert actions[:2] == ["恢复账号", "停用账号"]


def test_role_change_moves_the_person_between_the_hubs_role_groups(hub, admin):
    r = act(hub, admin, "learner2", "role", role="trainer")
    assert r.status_code == 200 and "讲师" in r.text
    assert "learner2" in hub.api("GET", "/groups/role-trainer").json()["users"]
    assert "learner2" not in hub.api("GET", "/groups/role-learner").json()["users"]
    r = act(hub, admin, "learner2", "role", role="learner")
    assert "learner2" in hub.api("GET", "/groups/role-learner").json()["users"]
    rows = [r for r in audit_rows(hub, admin, "learner2") if r[2] == "变更角色"]
    assert [r[4] for r in rows] == ["原角色：讲师；新角色：学员", "原角色：学员；新角色：讲师"]
    # the last administrator cannot be demoted, from the page either
    r = act(hub, admin, "admin1", "role", role="learner")
    assert r.status_code == 400 and "最后一个" in r.text


def test_a_learner_changes_their_own_password_from_the_page_linked_on_the_home(hub):
    s = hub.login("learner1")
    assert 'href="/hub/xuefa/password"' in s.get(f"{hub.url}/hub/home", timeout=30).text
    page = s.get(f"{hub.url}/hub/xuefa/password", timeout=30)
    assert page.status_code == 200 and "修改密码" in page.text
    data = {"old_password": "not-mine-123", "new_password": "Another2026x",
            "confirm_password": "Another2026x", "_xsrf": xsrf(s)}
    r = s.post(f"{hub.url}/hub/xuefa/password", data=data, timeout=60)
    assert r.status_code == 400 and "原密码不正确" in r.text
    r = s.post(f"{hub.url}/hub/xuefa/password", timeout=60,
               data={**data, "old_password": hub.passwords["learner1"]})
    assert r.status_code == 200 and 'id="xf-done"' in r.text
    assert hub.try_login("learner1", "Another2026x").status_code == 302
    hub.passwords["learner1"] = "Another2026x"


def test_audit_log_exports_as_a_workbook(hub, admin):
    r = admin.get(f"{hub.url}/hub/xuefa/audit", params={"format": "xlsx"}, timeout=30)
    assert r.status_code == 200
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in ws[1]] == ["时间（UTC）", "操作人", "操作", "对象账号", "详情", "来源地址"]
    assert {"重置密码", "解锁账号", "停用账号", "恢复账号", "变更角色"} <= {row[2].value for row in ws.iter_rows(min_row=2)}


def test_the_account_pages_have_no_english(hub, admin):
    """Our pages' own content. (The hub's page frame around it is hub_config/templates/page.html:
    JupyterHub's noscript note, error dialog and navbar toggle are outside its blocks.)"""
    # data: accounts, the address, and the roster file name the fixture's import is audited with
    data = [row[0] for row in ROSTER] + ["127.0.0.1", "roster.csv"]
    pages = {path: (admin.get(f"{hub.url}/hub/{path}", timeout=30), root)
             for path, root in (("xuefa/accounts", "xf-accounts"), ("xuefa/audit", "xf-audit"),
                                ("xuefa/password", "xf-password"), ("home", "xf-account-links"))}
    reset = act(hub, admin, "spare1", "reset")
    pages["reset"] = (reset, "xf-accounts")
    data.append(re.search(r'id="xf-new-password">([^<]+)<', reset.text).group(1))
    for name, (r, root) in pages.items():
        assert r.status_code == 200, name
        assert english_words(r.text, root, data) == set(), name
