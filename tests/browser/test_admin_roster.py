"""An administrator's day in Chromium (issue 16): 花名册导入 with a bad row (the row is named,
nothing changes), fixed, previewed (created / moved), 确认导入; 账号管理 resets a learner, who
logs in with the new initial password and must change it; 通知公告 posts a notice the learner
sees on the hub home; every act is on 审计日志; and the new pages carry no English.

The platform is this module's own light one (the test roster, no courses, no services): the
shared browser ``platform`` is module-scoped and ``--demo`` publishes every course first, which
costs minutes this journey does not need. ``browser`` is the shared Chromium.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from grading.records import migrate
from grading.records.db import session_scope
from grading.records.models import Learner
from grading.records.roster import import_roster
from tests.browser.conftest import CHROMIUM, english_words
from tests.integration.conftest import (
    INITIAL_PASSWORD,
    NEW_PASSWORD,
    ROSTER,
    ROSTER_HEADER,
    platform_dir,
    running_hub,
    write_roster,
)

pytestmark = pytest.mark.browser

TIMEOUT = 60_000
GOOD = [["xinren1", "新人甲", "测试市/城西镇", "干部", "学员", "", "Newbie-2026a"],
        ["spare1", "学员戊", "测试市/城西镇", "年轻干部", "学员", "", INITIAL_PASSWORD]]  # moved
BAD = [GOOD[0], ["xinren2", "新人乙", "测试市/城西镇", "干部们", "学员", "", ""]]
# file formats and product names a clerk must recognise; account names and addresses are data
NOT_PROSE = ["xlsx", "csv", "xls", "UTF", "GBK", "WPS", "Excel", "127.0.0.1", "xinren1", "spare1",
             "admin1", "learner1", *[r[0] for r in ROSTER]]


@pytest.fixture(scope="module")
def platform():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed")
    root, datadir = platform_dir("xuefa-bra-")
    migrate.upgrade(datadir.records_db_url)
    roster_path = write_roster(root / "roster.csv", ROSTER)
    assert not import_roster(roster_path, datadir.records_db_url).errors
    env = {"XUEFA_DISABLE_SERVICES": "dashboards,idle-culler,grading,formgrader"}
    with running_hub(root, datadir, env=env, timeout=180, roster_path=roster_path) as h:
        yield h


def sheet(rows) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows([ROSTER_HEADER, *rows])
    return buf.getvalue().encode("gb18030")  # as Chinese Excel saves a .csv


def people(platform) -> list[tuple]:
    with session_scope(platform.datadir.records_db_url) as s:
        return sorted((p.username, p.unit.path, p.active) for p in s.scalars(select(Learner)))


def log_in(page, url: str, username: str, password: str, new_password: str | None = None) -> None:
    page.goto(f"{url}/hub/login?next=%2Fhub%2Fhome")
    page.fill("#username_input", username)
    page.fill("#password_input", password)
    page.click("#login_submit")
    if new_password:
        page.wait_for_selector("#new_password_input", timeout=TIMEOUT)
        page.fill("#new_password_input", new_password)
        page.fill("#confirm_password_input", new_password)
        page.click("#change_submit")
    page.wait_for_url(f"{url}/hub/home", timeout=TIMEOUT)


def upload(page, url: str, rows) -> None:
    page.goto(f"{url}/hub/xuefa/roster")
    page.set_input_files("#xf-file", files=[{"name": "名单.csv", "mimeType": "text/csv",
                                              "buffer": sheet(rows)}])
    page.click("#xf-preview-button")
    page.wait_for_load_state()


def test_admin_imports_a_roster_resets_a_learner_and_posts_a_notice(platform, browser, shot):
    url = platform.url
    admin = browser.new_context(locale="zh-CN").new_page()
    admin.set_default_timeout(TIMEOUT)
    admin.on("dialog", lambda d: d.accept())
    log_in(admin, url, "admin1", INITIAL_PASSWORD, NEW_PASSWORD)
    admin.click("#xf-roster-link")
    assert english_words(admin, "#xf-roster", NOT_PROSE) == set()

    before = people(platform)
    upload(admin, url, BAD)
    errors = admin.inner_text("#xf-row-errors")
    assert "第3行 [身份]" in errors and "未导入任何人员" in errors
    shot(admin, "admin-roster-01-bad-row")
    assert people(platform) == before

    upload(admin, url, GOOD)
    assert "xinren1" in admin.inner_text("#xf-created")
    assert "测试市/城东镇 → 测试市/城西镇" in admin.inner_text("#xf-moved")
    assert english_words(admin, "#xf-roster", NOT_PROSE) == set()
    shot(admin, "admin-roster-02-preview")
    assert people(platform) == before  # a preview changes nothing
    admin.click("#xf-confirm")
    admin.wait_for_selector("#xf-done")
    assert ("spare1", "测试市/城西镇", True) in people(platform)
    assert ("xinren1", "测试市/城西镇", True) in people(platform)

    admin.goto(f"{url}/hub/xuefa/accounts?q=learner1")
    admin.click("tr[data-username=learner1] >> text=重置密码")
    new_initial = admin.inner_text("#xf-new-password").strip()
    learner = browser.new_context(locale="zh-CN").new_page()
    learner.set_default_timeout(TIMEOUT)
    log_in(learner, url, "learner1", new_initial, "Changed2026b")

    admin.goto(f"{url}/hub/xuefa/notices")
    admin.fill("#xf-notice-title", "本周五前完成必修课")
    admin.fill("#xf-notice-body", "<b>请各位</b>按时完成学习。")
    admin.click("#xf-notice-post")
    admin.wait_for_selector("#xf-message")
    assert english_words(admin, "#xf-notices", NOT_PROSE) == set()
    learner.goto(f"{url}/hub/home")
    learner.wait_for_selector("#xf-home-notices .xf-notice")
    board = learner.inner_text("#xf-home-notices")
    assert "本周五前完成必修课" in board and "<b>请各位</b>按时完成学习。" in board  # text, not markup
    shot(learner, "admin-roster-03-home-notice")

    admin.goto(f"{url}/hub/xuefa/campaigns?edit=")
    assert english_words(admin, "#xf-campaigns", NOT_PROSE) == set()
    admin.goto(f"{url}/hub/xuefa/audit")
    log_text = admin.inner_text("#xf-audit-log")
    for act in ("导入花名册", "重置密码", "本人修改密码", "发布通知"):
        assert act in log_text, act
    shot(admin, "admin-roster-04-audit")
