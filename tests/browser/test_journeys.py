"""The learner's journey in a real browser against ``xuefa up --demo``.

Chinese login page → forced first-login password change → 我的学习 (Voila, no code) → 开始学习
a module → a lesson → the assessment: answers by clicking the widgets → reload: the answers are
still there → 提交 → score and explanations appear without any instructor action → 我的学习
shows the module's new status.

Administrator: ``xuefa roster import`` reaches the running hub → the overview dashboard counts
the learner above → 生成 Excel 报表 downloads a workbook naming them.

Trainer (partial): JupyterLab in Chinese, ``xuefa course validate`` / ``publish``. Grading an
essay in formgrader is not tested: the trainer's server has no nbgrader course configuration
(formgrader shows the default exchange /usr/local/share/nbgrader/exchange and no assignments).
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.browser.conftest import DEMO_PASSWORD, NEW_PASSWORD, PAGE_TIMEOUT
from tests.integration.conftest import VENV_BIN

pytestmark = pytest.mark.browser

COURSE = "pingtai_rumen"  # 平台入门: elective for every audience, all objective questions
# the questions answered by clicking: (radio label text, …) — option order may be shuffled per
# learner, so options are found by their text, not their letter
CLICKS = ["我的学习", "修改初始密码", "已作答的内容仍然保留"]
TRUE_FALSE = [(0, "正确"), (1, "错误"), (2, "正确")]
# 6 of 10 questions right, 10 points each: exactly the pass mark


def login_first_time(page, url: str, username: str, shot, prefix: str) -> None:
    page.goto(f"{url}/hub/login")
    page.get_by_text("登录学法平台").wait_for()
    shot(page, f"{prefix}-01-login")
    page.fill("#username_input", username)
    page.fill("#password_input", DEMO_PASSWORD)
    page.click("#login_submit")
    page.get_by_text("修改初始密码").first.wait_for()
    shot(page, f"{prefix}-02-change-password")
    page.fill("#new_password_input", NEW_PASSWORD)
    page.fill("#confirm_password_input", NEW_PASSWORD)
    page.click("#change_submit")


def wait_voila(page) -> None:
    """Until Voila has executed the notebook and the widgets are on the page."""
    page.wait_for_selector(".jupyter-widgets", timeout=PAGE_TIMEOUT)
    page.wait_for_function("() => !document.querySelector('#loading') || "
                           "getComputedStyle(document.querySelector('#loading')).display === 'none'",
                           timeout=PAGE_TIMEOUT)


def no_code_visible(page) -> None:
    body = page.inner_text("body")
    for marker in ("Traceback", "import widgets", "xf.", "Error"):
        assert marker not in body, f"{marker!r} visible to the learner:\n{body[:2000]}"


FITS_JS = """() => { const W = window.innerWidth; const wide = [];
  for (const el of document.querySelectorAll('body *')) {
    const r = el.getBoundingClientRect();
    if (r.width > 0 && r.right > W + 1) wide.push(`${el.tagName}.${el.className} right=${Math.round(r.right)}`);
  }
  return wide.slice(0, 10); }"""


def fits_width(page) -> None:
    """Nothing sticks out to the right (a phone would scroll sideways)."""
    wide = page.evaluate(FITS_JS)
    assert not wide, f"wider than the {page.viewport_size['width']} px viewport at {page.url}: {wide}"


def run_journey(page, url: str, username: str, shot, prefix: str) -> None:
    login_first_time(page, url, username, shot, prefix)
    # the server starts, then 我的学习 renders through Voila
    page.get_by_text("我的学习").first.wait_for(timeout=PAGE_TIMEOUT)
    wait_voila(page)
    page.get_by_text("平台入门").first.wait_for(timeout=PAGE_TIMEOUT)
    shot(page, f"{prefix}-03-my-learning")
    no_code_visible(page)
    fits_width(page)

    card = page.locator(".xf-module", has_text="平台入门")
    card.get_by_role("button", name="开始学习").click()
    card.get_by_text("已准备好").wait_for(timeout=PAGE_TIMEOUT)
    shot(page, f"{prefix}-04-module-ready")
    card.get_by_text("点击进入第一课").click()
    wait_voila(page)
    shot(page, f"{prefix}-05-lesson1")
    no_code_visible(page)
    fits_width(page)

    page.goto(f"{url}/user/{username}/voila/render/{COURSE}/module/assessment.ipynb")
    wait_voila(page)
    page.get_by_role("button", name="提交").wait_for(timeout=PAGE_TIMEOUT)
    no_code_visible(page)
    fits_width(page)
    for text in CLICKS:
        page.get_by_text(re.compile(r"^[A-D]\. " + re.escape(text) + "$")).click()
    # 判断题 in page order: q05 正确, q06 错误, q07 正确 (q10's sub-question left blank)
    for i, label in TRUE_FALSE:
        page.get_by_label(label, exact=True).nth(i).click()
    page.wait_for_timeout(1500)  # answers are saved by the kernel on change
    shot(page, f"{prefix}-06-assessment-answered")

    page.reload()
    wait_voila(page)
    page.get_by_role("button", name="提交").wait_for(timeout=PAGE_TIMEOUT)
    for text in CLICKS:
        radio = page.get_by_label(re.compile(r"^[A-D]\. " + re.escape(text) + "$"))
        assert radio.is_checked(), f"answer {text!r} lost after reload"
    for i, label in TRUE_FALSE:
        assert page.get_by_label(label, exact=True).nth(i).is_checked(), f"判断题 {i + 1} lost"

    page.get_by_role("button", name="提交").click()
    page.get_by_text("已提交").first.wait_for(timeout=PAGE_TIMEOUT)
    score = page.get_by_text(re.compile(r"第 1 次提交：[\d.]+ / 100 分"))
    score.wait_for(timeout=PAGE_TIMEOUT)
    page.get_by_text("解析：").first.wait_for()
    page.get_by_text("法律依据：").first.wait_for()
    score.scroll_into_view_if_needed()
    shot(page, f"{prefix}-07-results")
    fits_width(page)
    text = score.inner_text()
    assert re.search(r"第 1 次提交：60 / 100 分 · 已通过", text), text
    results = page.locator(".widget-html", has_text="次提交").last.inner_text()
    # answers as the learner saw them: option text, not stored letters or JSON
    assert "你的答案：我的学习" in results and "正确答案：错误" in results, results[:1500]
    assert "true" not in results and "q01" not in results, results[:1500]

    page.goto(f"{url}/user/{username}/")
    wait_voila(page)
    card = page.locator(".xf-module", has_text="平台入门")
    card.get_by_text("已合格").first.wait_for(timeout=PAGE_TIMEOUT)
    card.get_by_text("最高 60 分").first.wait_for()
    card.scroll_into_view_if_needed()
    shot(page, f"{prefix}-08-my-learning-after")


def test_learner_desktop(platform, browser, shot):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        run_journey(page, platform.url, "ganbu1", shot, "learner-desktop")
    finally:
        context.close()


def test_learner_phone(platform, browser, shot):
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN",
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        run_journey(page, platform.url, "qingnian1", shot, "learner-phone")
    finally:
        context.close()


# --- administrator --------------------------------------------------------------------------

NEW_LEARNER = ["ganbu9", "钱新", "海安市/城东镇", "干部", "学员", "", DEMO_PASSWORD]


def import_roster_cli(platform, tmp_path):
    """``xuefa roster import`` as the administrator runs it: the demo roster plus one newcomer
    (a roster file is the whole city: people missing from it would be deactivated)."""
    src = platform.roster_path.read_text(encoding="utf-8-sig").rstrip("\n")
    roster = tmp_path / "名单.csv"
    roster.write_text(src + "\n" + ",".join(NEW_LEARNER) + "\n", encoding="utf-8")
    env = dict(os.environ, XUEFA_DATA_DIR=str(platform.datadir.root))
    env.pop("JUPYTERHUB_API_TOKEN", None)
    return subprocess.run([str(VENV_BIN / "xuefa"), "roster", "import", str(roster),
                           "--data-dir", str(platform.datadir.root)],
                          env=env, capture_output=True, text=True, timeout=300)


def admin_journey(page, url: str, shot, prefix: str) -> bytes:
    login_first_time(page, url, "admin", shot, prefix)
    return admin_dashboard(page, url, shot, prefix)


def admin_dashboard(page, url: str, shot, prefix: str) -> bytes:
    """The overview dashboard counts participants; 生成 Excel 报表 → the workbook's bytes."""
    page.goto(f"{url}/services/dashboards/voila/render/overview.ipynb")
    page.get_by_text("应学人数").first.wait_for(timeout=PAGE_TIMEOUT)
    shot(page, f"{prefix}-03-dashboard-overview")
    no_code_visible(page)
    body = page.inner_text("body")
    participating = re.search(r"参学 (\d+) 人", body)
    assert participating and int(participating.group(1)) >= 1, body[:1500]
    page.get_by_role("button", name="生成 Excel 报表").click()
    link = page.locator("a.xf-download")
    link.wait_for(timeout=PAGE_TIMEOUT)
    shot(page, f"{prefix}-04-dashboard-export")
    with page.expect_download(timeout=60_000) as dl:
        link.click()
    download = dl.value
    assert download.suggested_filename.endswith("完成情况.xlsx"), download.suggested_filename
    return Path(download.path()).read_bytes()


def test_administrator(platform, browser, shot, tmp_path):
    """Runs after the learner's journey (same platform): ganbu1 passed 平台入门."""
    result = import_roster_cli(platform, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "新增 1" in result.stdout and "已同步到平台" in result.stdout, result.stdout
    assert platform.api("GET", f"/users/{NEW_LEARNER[0]}").status_code == 200

    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN",
                                  accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        data = admin_journey(page, platform.url, shot, "admin")
    finally:
        context.close()
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    cells = [str(v) for ws in book.worksheets for row in ws.iter_rows(values_only=True)
             for v in row if v is not None]
    assert "张明" in cells, "the learner of the journey above is not in the export"
    assert "钱新" in cells, "the person imported just now is not in the export"


# --- trainer (partial: see the module doc) ---------------------------------------------------

def xuefa_cli(platform, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, XUEFA_DATA_DIR=str(platform.datadir.root))
    env.pop("JUPYTERHUB_API_TOKEN", None)
    return subprocess.run([str(VENV_BIN / "xuefa"), *args], env=env, capture_output=True,
                          text=True, timeout=300)


def test_trainer_lab_validate_publish(platform, browser, shot):
    """The trainer lands in JupyterLab (in Chinese), then validates and publishes 述法."""
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        login_first_time(page, platform.url, "trainer1", shot, "trainer")
        page.wait_for_selector(".jp-LabShell", timeout=PAGE_TIMEOUT)
        page.get_by_role("menuitem", name="文件").wait_for(timeout=PAGE_TIMEOUT)
        page.get_by_text("启动页").first.wait_for(timeout=PAGE_TIMEOUT)
        shot(page, "trainer-03-jupyterlab")
    finally:
        context.close()
    validated = xuefa_cli(platform, "course", "validate", "shufa")
    assert validated.returncode == 0 and "✔ shufa" in validated.stdout, validated.stdout + validated.stderr
    published = xuefa_cli(platform, "course", "publish", "shufa", "--data-dir", str(platform.datadir.root))
    assert published.returncode == 0 and "已发布" in published.stdout, published.stdout + published.stderr
