"""Attacks on the administration pages of issue 16 (花名册导入, 学习活动, 通知公告) over real HTTP:
learners and trainers (with a session or their kernel's token) reaching the pages and their
form posts, markup in roster cells and notice text, the one-time initial-passwords workbook
fetched twice or by someone else, and file-name / token tricks in the upload. Refused attempts
are checked against the records DB (audit log, notices, people) and the upload directory."""

from __future__ import annotations

import csv
import io
import re

import openpyxl
import pytest
from sqlalchemy import func, select

from grading.records import audit, notices
from grading.records.db import session_scope
from grading.records.models import Learner
from tests.security.conftest import INITIAL_PASSWORD, ROSTER

pytestmark = pytest.mark.integration

HEADER = ["账号", "姓名", "单位", "身份", "角色", "手机", "初始密码"]
PAGES = ["xuefa/roster", "xuefa/campaigns", "xuefa/campaigns?edit=", "xuefa/notices",
         "xuefa/roster/passwords/" + "A" * 32]
POSTS = [("xuefa/roster", {"step": "confirm", "token": "A" * 32}),
         ("xuefa/campaigns", {"id": "evil", "name": "恶意活动", "start": "2026-11-01",
                              "end": "2026-11-30", "pass_mark": "1"}),
         ("xuefa/notices", {"action": "post", "title": "假通知", "body": "x"}),
         ("xuefa/notices", {"action": "withdraw", "notice": "1"})]
HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


def xsrf(session) -> str:
    return next(c.value for c in session.cookies if c.name == "_xsrf" and c.path.startswith("/hub"))


def csv_bytes(rows) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *rows])
    return buf.getvalue().encode("utf-8")


def state(target):
    url = target.datadir.records_db_url
    with session_scope(url) as s:
        people = s.scalar(select(func.count()).select_from(Learner))
    return len(audit.entries(url, limit=None)), len(notices.list_notices(url)), people


def uploads(target) -> set[str]:
    d = target.datadir.reports / "roster-uploads"
    return {p.name for p in d.iterdir()} if d.exists() else set()


def preview(target, admin, data: bytes, filename: str = "名单.csv", **form):
    admin.get(f"{target.url}/hub/xuefa/roster", timeout=30)
    return admin.post(f"{target.url}/hub/xuefa/roster", timeout=120,
                      data={"_xsrf": xsrf(admin), "step": "preview", "deactivate": "", **form},
                      files={"roster": (filename, data, "text/csv")})


def token_of(page: str) -> str:
    return re.search(r'name="token" value="([A-Za-z0-9_-]{32})"', page).group(1)


@pytest.mark.parametrize("username", ["learner1", "trainer1"])
def test_only_administrators_reach_the_roster_campaign_and_notice_pages(target, username):
    s = target.login(username)
    before = state(target)
    for page in PAGES:
        r = s.get(f"{target.url}/hub/{page}", timeout=30)
        assert r.status_code == 403, (page, r.status_code)
        assert "只有管理员" in r.text
    s.get(f"{target.url}/hub/home", timeout=30)
    for page, data in POSTS:
        r = s.post(f"{target.url}/hub/{page}", data={**data, "_xsrf": xsrf(s)}, timeout=30)
        assert r.status_code == 403, (page, r.status_code)
    r = s.post(f"{target.url}/hub/xuefa/roster", timeout=30,
               data={"_xsrf": xsrf(s), "step": "preview"},
               files={"roster": ("r.csv", csv_bytes([["evil1", "恶人", "测试市", "干部", "管理员", "", ""]]))})
    assert r.status_code == 403
    assert state(target) == before


def test_a_learners_kernel_token_does_not_open_them(target, attacker):
    auth = {"Authorization": f"token {attacker.token}"}
    for page in PAGES:
        assert attacker.session.get(f"{target.url}/hub/{page}", headers=auth, timeout=30).status_code == 403
    for page, data in POSTS:
        r = attacker.session.post(f"{target.url}/hub/{page}", headers=auth, data=data, timeout=30)
        assert r.status_code == 403, page
    # their own notices (and nobody else's) are what the JSON gives them
    r = attacker.session.get(f"{target.url}/hub/xuefa/notices/current", headers=auth, timeout=30)
    assert r.status_code == 200 and r.headers["X-Content-Type-Options"] == "nosniff"


def test_forged_posts_without_the_xsrf_token_are_refused(target):
    admin = target.login("admin1")
    before = state(target)
    r = admin.post(f"{target.url}/hub/xuefa/notices", data={"action": "post", "title": "伪造", "body": "x"},
                   timeout=30)
    assert r.status_code == 403
    r = admin.post(f"{target.url}/hub/xuefa/roster", data={"step": "preview"}, timeout=30,
                   files={"roster": ("r.csv", csv_bytes([ROSTER[0]]))})
    assert r.status_code == 403
    assert state(target) == before


def test_hostile_roster_cells_are_escaped_and_change_nothing(target):
    admin = target.login("admin1")
    before = state(target)
    rows = [[HOSTILE, HOSTILE, "测试市", "干部", "学员", "", ""],
            ["okname", "好人", "测试市", HOSTILE, "学员", "", ""]]
    r = preview(target, admin, csv_bytes(rows), filename=HOSTILE + ".csv")
    assert r.status_code == 400 and "第2行 [账号]" in r.text and "第3行 [身份]" in r.text
    assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text
    assert "&lt;script&gt;" in r.text
    assert state(target) == before and not any(n.endswith(".csv") for n in uploads(target))


@pytest.mark.parametrize("filename", ["../../../etc/cron.d/x.csv", "..\\..\\evil.csv", "名单.xlsx.py",
                                      "a.xls", "x.csv\x00.py", "/etc/passwd"])
def test_file_name_tricks_never_become_paths(target, filename):
    admin = target.login("admin1")
    before = state(target)
    r = preview(target, admin, csv_bytes([ROSTER[1]]), filename=filename)
    if r.status_code == 200:  # a harmless .csv name: kept under a random token only
        assert "预览" in r.text
        assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}\.(csv|xlsx|json)", n) for n in uploads(target))
    else:
        assert r.status_code == 400
        # refused by name; a NUL in the name stops the hub parsing the multipart body at all
        assert "只能导入" in r.text or "\x00" in filename
    assert not (target.datadir.root.parent / "evil.csv").exists()
    assert state(target) == before


def test_confirm_takes_only_the_admins_own_unexpired_token(target):
    admin = target.login("admin1")
    before = state(target)
    for token in ("../../hub/api_token", "A" * 32, "", "x" * 200):
        admin.get(f"{target.url}/hub/xuefa/roster", timeout=30)
        r = admin.post(f"{target.url}/hub/xuefa/roster", timeout=60,
                       data={"_xsrf": xsrf(admin), "step": "confirm", "token": token})
        assert r.status_code == 400 and "预览已失效" in r.text
    assert state(target) == before


def test_initial_passwords_download_once_and_only_by_the_importing_admin(target):
    admin = target.login("admin1")
    learner = target.login("learner2")
    # only the new person: re-importing ROSTER would reactivate or demote what other files changed
    rows = [["newbie1", "=HYPERLINK(\"http://evil\")", "测试市/城东镇", "干部", "学员", "", ""]]
    page = preview(target, admin, csv_bytes(rows))
    assert page.status_code == 200 and "newbie1" in page.text, page.text[:2000]
    admin.get(f"{target.url}/hub/xuefa/roster", timeout=30)
    done = admin.post(f"{target.url}/hub/xuefa/roster", timeout=180,
                      data={"_xsrf": xsrf(admin), "step": "confirm", "token": token_of(page.text)})
    assert done.status_code == 200 and 'id="xf-done"' in done.text, done.text[:3000]
    link = re.search(r'href="(/hub/xuefa/roster/passwords/[A-Za-z0-9_-]{32})"', done.text).group(1)
    assert learner.get(f"{target.url}{link}", timeout=30).status_code == 403
    r = admin.get(f"{target.url}{link}", timeout=30)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "no-store"
    ws = openpyxl.load_workbook(io.BytesIO(r.content)).active
    [row] = [[c.value for c in row] for row in ws.iter_rows(min_row=2)]
    assert row[0] == "newbie1" and row[1].startswith("=HYPERLINK") and ws["B2"].data_type == "s"
    again = admin.get(f"{target.url}{link}", timeout=30)
    assert again.status_code == 410 and row[2] not in again.text
    assert not any(".pw." in n for n in uploads(target))
    assert target.try_login("newbie1", row[2]).status_code == 200  # forced change form
    assert target.try_login("newbie1", INITIAL_PASSWORD).status_code == 403
    [entry] = audit.entries(target.datadir.records_db_url, action="roster_import", limit=1)
    assert entry.actor == "admin1" and entry.detail["created"] == 1 and entry.client == "127.0.0.1"
    # the running hub knows the new account at once (synced from inside the hub)
    assert "newbie1" in target.api("GET", "/groups/role-learner").json()["users"]


def test_notice_markup_is_escaped_on_every_page_and_reaches_only_its_audience(target):
    admin = target.login("admin1")
    admin.get(f"{target.url}/hub/xuefa/notices", timeout=30)
    r = admin.post(f"{target.url}/hub/xuefa/notices", timeout=30,
                   data={"_xsrf": xsrf(admin), "action": "post", "title": HOSTILE, "body": HOSTILE,
                         "audience": "volunteer"})
    assert r.status_code == 200 and "通知已发布" in r.text
    assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text
    assert "&lt;img src=x" in r.text
    vol = target.login("learner2")  # 法律明白人
    got = vol.get(f"{target.url}/hub/xuefa/notices/current", timeout=30)
    assert got.headers["Content-Type"].startswith("application/json")
    assert [n["title"] for n in got.json()["notices"]] == [HOSTILE]
    cadre = target.login("trainer1")  # 干部: not for them
    assert cadre.get(f"{target.url}/hub/xuefa/notices/current", timeout=30).json()["notices"] == []
    home = vol.get(f"{target.url}/hub/home", timeout=30).text
    assert "<script>alert(1)" not in home  # the home fills the list in with textContent only
    nid = notices.list_notices(target.datadir.records_db_url)[0].id
    r = admin.post(f"{target.url}/hub/xuefa/notices", timeout=30,
                   data={"_xsrf": xsrf(admin), "action": "withdraw", "notice": str(nid)})
    assert r.status_code == 200 and "通知已撤回" in r.text
    assert vol.get(f"{target.url}/hub/xuefa/notices/current", timeout=30).json()["notices"] == []


def test_campaign_form_text_is_escaped_and_bad_values_name_the_field(target):
    admin = target.login("admin1")
    before = state(target)
    admin.get(f"{target.url}/hub/xuefa/campaigns?edit=", timeout=30)
    r = admin.post(f"{target.url}/hub/xuefa/campaigns", timeout=60, data={
        "_xsrf": xsrf(admin), "id": "Bad Id", "name": HOSTILE, "start": "2026-12-01",
        "end": "2026-11-01", "pass_mark": "120", "plan-cadre-pingtai_rumen": "required",
        "leader": HOSTILE, "title": "", "text": ""})
    assert r.status_code == 400
    assert "活动编号" in r.text and "合格线" in r.text and "导学标题" in r.text
    assert "<script>alert(1)" not in r.text and "<img src=x" not in r.text
    assert state(target) == before
