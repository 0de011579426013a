"""Unit administrators, certificates and reminders in a real browser (issue 16), lean.

On ``xuefa up --demo``: the city administrator sets 城东镇 as a new administrator's 管理范围 on
账号管理; that unit administrator sees only 城东镇's 未完成名单 and gets 403 for 海安街道's
certificates and dashboards; 发送提醒 on the page reaches a real local SMTP server (aiosmtpd)
and a local group-robot receiver (http.server); a 年轻干部 learner who completed downloads the
结业证书 and the public verification page (no login) confirms it; the audit log shows the acts.
The new pages' rendered text has no English.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from tests.browser.conftest import DEMO_PASSWORD, NEW_PASSWORD

pytestmark = pytest.mark.browser

LEARNER = "qingnian1"  # 赵晓, 海安市/城东镇, 年轻干部 (complete after test_journeys, or made so here)
UNIT_ADMIN = "zhenadm"


def english_words(text: str, allowed: set[str]) -> list[str]:
    """ASCII words on a page that are not account names, certificate numbers or URLs."""
    text = re.sub(r"XF-\d{4}-\d+-[A-Z2-7]+", " ", text)
    text = re.sub(r"https?://\S+", " ", text)
    return [w for w in re.findall(r"[A-Za-z][A-Za-z0-9_]{2,}", text) if w not in allowed]


@pytest.fixture(scope="module")
def receivers():
    from aiosmtpd.controller import Controller

    from tests.conftest import free_port

    mails, posts = [], []

    class Sink:
        async def handle_DATA(self, server, session, envelope):
            mails.append(envelope)
            return "250 OK"

    class Robot(BaseHTTPRequestHandler):
        def do_POST(self):
            posts.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"errcode":0}')

        def log_message(self, *a):
            pass

    smtp = Controller(Sink(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Robot)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    try:
        yield smtp.port, f"http://127.0.0.1:{http.server_address[1]}/robot", mails, posts
    finally:
        http.shutdown()
        smtp.stop()


@pytest.fixture(scope="module")
def world(platform, receivers):
    """zhenadm (a new administrator, city-wide until the page sets a scope), emails for the
    城东镇 learners, qingnian1's required courses passed, DATA/notify.toml to the receivers."""
    from grading.records.accounts import hash_password
    from grading.records.db import session_scope
    from grading.records.models import Campaign, CampaignCourse, Credential, Learner, Result, Role, Unit
    from hub_config.hubsync import running_hub, sync_hub

    url = platform.datadir.records_db_url
    smtp_port, hook, _, _ = receivers
    with session_scope(url) as s:
        town = s.scalar(select(Unit).where(Unit.path == "海安市/城东镇"))
        other = s.scalar(select(Unit).where(Unit.path == "海安市/海安街道"))
        s.add(Learner(username=UNIT_ADMIN, name="城东镇管理员", unit_id=town.id, audience="cadre",
                      role=Role.admin, active=True,
                      credential=Credential(password_hash=hash_password(DEMO_PASSWORD), must_change=False)))
        for p in s.scalars(select(Learner).where(Learner.role == Role.learner)):
            p.email = f"{p.username}@example.org"
        camp = s.scalar(select(Campaign).order_by(Campaign.start.desc()))
        me = s.scalar(select(Learner).where(Learner.username == LEARNER))
        for cc in s.scalars(select(CampaignCourse).where(CampaignCourse.campaign_id == camp.id,
                                                         CampaignCourse.audience == me.audience,
                                                         CampaignCourse.required.is_(True))):
            # test_journeys (run before this file) may already have passed some of them
            if s.scalar(select(Result).where(Result.learner_id == me.id, Result.course_id == cc.course_id,
                                             Result.passed.is_(True))) is not None:
                continue
            s.add(Result(learner_id=me.id, course_id=cc.course_id, assignment="module", attempt=1,
                         score=10, max_score=10, passed=True,
                         submitted_at=min(datetime.now(), datetime.combine(camp.end, datetime.min.time()))
                         - timedelta(hours=1)))
        ids = {"town": town.id, "other": other.id, "campaign": camp.id}
    (platform.datadir.root / "notify.toml").write_text(
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nfrom = "xuefa@example.org"\n'
        f'[webhook]\nurl = "{hook}"\n', encoding="utf-8")
    sync_hub(*running_hub(platform.datadir), url)
    return ids


def roster_accounts(platform) -> set[str]:
    from grading.records.db import session_scope
    from grading.records.models import Learner

    with session_scope(platform.datadir.records_db_url) as s:
        return set(s.scalars(select(Learner.username)))


def login(page, url: str, username: str) -> None:
    page.goto(f"{url}/hub/login")
    page.fill("#username_input", username)
    page.fill("#password_input", DEMO_PASSWORD)
    page.click("#login_submit")
    page.wait_for_load_state()
    if page.locator("#password_input").count():  # test_journeys already changed it
        page.fill("#username_input", username)
        page.fill("#password_input", NEW_PASSWORD)
        page.click("#login_submit")
        page.wait_for_load_state()
    if page.locator("#new_password_input").count():
        page.fill("#new_password_input", NEW_PASSWORD)
        page.fill("#confirm_password_input", NEW_PASSWORD)
        page.click("#change_submit")
        page.wait_for_load_state()


def test_unit_admin_certificate_and_reminder(platform, browser, world, receivers, shot):
    url = platform.url
    _, _, mails, posts = receivers
    # account names are data, not English prose: every account of the platform (test_journeys,
    # run before on the same platform, imports a newcomer into 城东镇)
    allowed = {"PDF"} | roster_accounts(platform)
    # the city administrator sets the scope on 账号管理
    city = browser.new_context()
    page = city.new_page()
    login(page, url, "admin")
    page.goto(f"{url}/hub/xuefa/accounts?q={UNIT_ADMIN}")
    row = page.locator(f"tr[data-username={UNIT_ADMIN}]")
    row.locator("select[name=scope]").select_option("海安市/城东镇")
    row.get_by_role("button", name="设置管理范围").click()
    page.locator("#xf-message").wait_for()
    assert "海安市/城东镇" in page.locator("#xf-message").inner_text()

    # the unit administrator: only 城东镇, 403 elsewhere
    ua = browser.new_context(accept_downloads=True)
    page = ua.new_page()
    login(page, url, UNIT_ADMIN)
    page.goto(f"{url}/hub/xuefa/reminders?campaign={world['campaign']}")
    body = page.locator("#xf-reminders").inner_text()
    assert "海安市/城东镇" in body and "刘洋" not in body and "海安街道" not in body
    assert "孙悦" not in body and "张明" in body  # 张明 (城东镇) has not finished, 孙悦 is elsewhere
    assert not english_words(body, allowed), english_words(body, allowed)
    shot(page, "unit-admin-reminders")
    for path in (f"hub/xuefa/certificates?format=zip&campaign={world['campaign']}&unit={world['other']}",
                 f"services/dashboards/voila/render/by_unit.ipynb?campaign={world['campaign']}&unit={world['other']}",
                 "hub/xuefa/audit"):
        assert page.goto(f"{url}/{path}").status == 403, path
    # 发送提醒 from the page
    page.goto(f"{url}/hub/xuefa/reminders?campaign={world['campaign']}")
    page.click("#xf-send-button")
    page.locator("#xf-result").wait_for()
    result = page.locator("#xf-result").inner_text()
    assert "已发送个人邮件" in result and not english_words(result, allowed), result
    rcpts = {r for m in mails for r in m.rcpt_tos}
    assert "ganbu1@example.org" in rcpts and "ganbu3@example.org" not in rcpts  # 海安街道: not theirs
    assert posts and "城东镇" in posts[0]["text"]["content"] and "刘洋" not in json.dumps(posts, ensure_ascii=False)
    # a second send the same day reaches nobody
    page.click("#xf-send-button")
    page.locator("#xf-result").wait_for()
    assert "今天已提醒过" in page.locator("#xf-result").inner_text()

    # the learner downloads the certificate; the public page confirms it
    lc = browser.new_context(accept_downloads=True)
    page = lc.new_page()
    login(page, url, LEARNER)
    page.goto(f"{url}/hub/xuefa/certificate")
    text = page.locator("#xf-certificates").inner_text()
    assert "已完成" in text and not english_words(text, allowed), english_words(text, allowed)
    with page.expect_download() as dl:
        page.locator(".xf-download").first.click()
    pdf = dl.value.path().read_bytes()
    assert pdf.startswith(b"%PDF")
    from grading.records import certs

    number = certs.of_learner(platform.datadir.records_db_url, LEARNER, world["campaign"]).number
    anon = browser.new_context().new_page()
    anon.goto(f"{url}/hub/xuefa/verify/{number}")
    verify = anon.locator("#xf-verify").inner_text()
    assert "真实有效" in verify and "赵晓" in verify and LEARNER not in verify
    assert not english_words(verify, allowed), english_words(verify, allowed)
    shot(anon, "certificate-verify")
    assert anon.goto(f"{url}/hub/xuefa/verify/XF-2026-00001-ABCDEFGH").status == 404
    assert "查无此证书" in anon.locator("#xf-verify").inner_text()

    # the city administrator sees the acts in the audit log
    page = city.new_page()
    page.goto(f"{url}/hub/xuefa/audit")
    log = page.locator("#xf-audit-log").inner_text()
    for act in ("变更管理范围", "发送学习提醒", "颁发结业证书"):
        assert act in log, act
    for ctx in (city, ua, lc):
        ctx.close()
