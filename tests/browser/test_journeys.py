"""The learner's journey in a real browser against ``xuefa up --demo``.

Chinese login page → forced first-login password change → 我的学习 (no code) → 开始学习
a module → a lesson → the assessment: answers by clicking the widgets → reload: the answers are
still there → 提交 → score and explanations appear without any instructor action → 我的学习
shows the module's new status.

The desktop learner (干部) passes the elective 平台入门; the phone learner (年轻干部), whose other
required courses are recorded as passed earlier, passes their last required module, answered from
the course's answer key, so their campaign is complete.

Administrator: ``xuefa roster import`` reaches the running hub → the overview dashboard counts
the phone learner as the one complete person, 分单位 → 下钻 lists them as 已完成 → 生成 Excel
报表 downloads a workbook whose figures agree (and whose 未完成名单 no longer names them).

Trainer: JupyterLab in Chinese, ``xuefa course validate`` / ``publish``; a 干部 learner submits
the 述法 assessment with a written report → the trainer follows 批改作业 on the hub home into the
course's formgrader (hub service ``formgrader-shufa``) and scores the report → the learner's
查看成绩 and 我的学习 show the final grade once the grading service synced it.
"""

from __future__ import annotations

import io
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest

from tests.browser.conftest import DEMO_PASSWORD, NEW_PASSWORD, PAGE_TIMEOUT
from tests.integration.conftest import VENV_BIN

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Journey:
    """One learner's course: where the answers come from and what the result must say."""

    course_id: str
    title: str  # as on the 我的学习 card
    answer: Callable  # (page) -> None: clicks answers like the learner
    still_answered: Callable  # (page) -> None: after reload the answers are on the page
    score: int  # of 100
    results_say: tuple[str, ...]  # in the results (answers as option text)
    required: bool = False
    # a drawn paper: attempt 1 is submitted blank and fails; the key and 解析 (these texts)
    # must stay off the page until the attempt that passes
    fail_first: bool = False
    explanations: tuple[str, ...] = ()


# --- 平台入门 (elective for every audience): a fixed choice of answers, 6 of 10 right --------

CLICKS = ["我的学习", "修改初始密码", "已作答的内容仍然保留"]
TRUE_FALSE = [(0, "正确"), (1, "错误"), (2, "正确")]


def pingtai_answer(page) -> None:
    for text in CLICKS:
        page.get_by_text(re.compile(r"^[A-D]\. " + re.escape(text) + "$")).click()
    # 判断题 in page order: q05 正确, q06 错误, q07 正确 (q10's sub-question left blank)
    for i, label in TRUE_FALSE:
        page.get_by_label(label, exact=True).nth(i).click()


def pingtai_still_answered(page) -> None:
    for text in CLICKS:
        radio = page.get_by_label(re.compile(r"^[A-D]\. " + re.escape(text) + "$"))
        assert radio.is_checked(), f"answer {text!r} lost after reload"
    for i, label in TRUE_FALSE:
        assert page.get_by_label(label, exact=True).nth(i).is_checked(), f"判断题 {i + 1} lost"


PINGTAI = Journey("pingtai_rumen", "平台入门", pingtai_answer, pingtai_still_answered, 60,
                  ("你的答案：我的学习", "正确答案：错误"))


# --- a required course answered from its answer key ----------------------------------------
# The keys are the trainer's hidden tests in the course source (learners never receive them);
# options are shuffled per learner, so answers are clicked by option text, never by letter.

def answer_key(course_id: str) -> list[dict]:
    """The assessment's questions, each {type, id, stem, options, points, key, questions (case)}:
    from the course's question bank (``bank.yaml``: the learner's paper is drawn from it), else
    from the hand-written assessment notebook's hidden tests, read the way ``xuefa course
    validate`` reads them."""
    bank = REPO / "courses" / course_id / "bank.yaml"
    if bank.exists():
        from grading.content.bank import load_bank

        return [dict(q) for q in load_bank(bank).questions]
    from grading.content.validate import read_notebook

    info = read_notebook(REPO / "courses" / course_id / "source" / "module" / "assessment.ipynb")
    keys = {g.qid: g.kwargs.get("key") for g in info.grades}
    questions = []
    for call in info.questions:
        q = dict(call.kwargs, type=call.type, key=keys[call.id])
        for sub in q.get("questions", []):
            sub["key"] = q["key"].get(sub["id"])
        questions.append(q)
    return questions


def explanations(questions: list[dict]) -> list[str]:
    out = []
    for q in questions:
        e = q.get("explanation")
        out += [e] if isinstance(e, str) and e else list(e.values()) if isinstance(e, dict) else []
        out += explanations(q.get("questions") or [])
    return out


def question_box(page, stem: str):
    # a case's box holds its sub-questions' boxes: the innermost match is the question itself
    return page.locator(".xf-question", has_text=stem).last


def option_text(q: dict, letter: str) -> str:
    return q["options"]["ABCDEFGH".index(letter)]


def click_answer(page, q: dict) -> None:
    """Answer ``q`` right by clicking (ordering questions stay unanswered)."""
    if q["type"] == "case":
        for sub in q["questions"]:
            click_answer(page, sub)
        return
    box = question_box(page, q["stem"])
    box.scroll_into_view_if_needed()
    if q["type"] == "single":
        box.get_by_text(re.compile(r"^[A-H]\. " + re.escape(option_text(q, q["key"])) + "$")).click()
    elif q["type"] == "truefalse":
        box.get_by_label("正确" if q["key"] else "错误", exact=True).click()
    elif q["type"] == "multiple":
        for letter in q["key"]:
            row = box.get_by_text(option_text(q, letter), exact=True).locator(
                "xpath=ancestor::*[.//input[@type='checkbox']][1]")
            row.locator("input[type=checkbox]").check()
    elif q["type"] == "fill":
        for i, variants in enumerate(q["key"]):
            box.locator("input[type=text]").nth(i).fill(variants[0])


def still_answered(page, q: dict) -> None:
    if q["type"] == "case":
        for sub in q["questions"]:
            still_answered(page, sub)
        return
    box = question_box(page, q["stem"])
    if q["type"] == "single":
        radio = box.get_by_label(re.compile(r"^[A-H]\. " + re.escape(option_text(q, q["key"])) + "$"))
        assert radio.is_checked(), f"{q['id']} lost after reload"
    elif q["type"] == "truefalse":
        assert box.get_by_label("正确" if q["key"] else "错误", exact=True).is_checked(), q["id"]
    elif q["type"] == "fill":
        assert box.locator("input[type=text]").first.input_value() == q["key"][0][0], q["id"]


def keyed_journey(course_id: str, title: str) -> Journey:
    questions = answer_key(course_id)

    def answer(page) -> None:
        for q in questions:
            click_answer(page, q)

    def reloaded(page) -> None:
        for q in questions:
            still_answered(page, q)

    first = questions[0]
    # the expected score is what the clickable questions are worth (ordering is left out)
    return Journey(course_id, title, answer, reloaded, int(sum(click_points(q) for q in questions)),
                   (f"你的答案：{option_text(first, first['key'])}",), required=True,
                   fail_first=(REPO / "courses" / course_id / "bank.yaml").exists(),
                   explanations=tuple(explanations(questions)))


def click_points(q: dict) -> float:
    if q["type"] == "case":
        return sum(click_points(sub) for sub in q["questions"])
    return 0 if q["type"] == "ordering" else q.get("points", 0)


# 未成年人保护与强制报告: the required module of 年轻干部 (xuexiyue_2026) the phone learner takes
WEICHENGNIAN = keyed_journey("weichengnian", "未成年人保护与强制报告")
PASS_MARK = 60


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


def wait_home(page) -> None:
    """Until 我的学习 is there: plain HTML from the learner's own server (no kernel, no Voila)."""
    page.wait_for_selector(".xf-module", timeout=PAGE_TIMEOUT)


# English a learner could meet on a Voila page (Voila's spinner, the widget manager's
# placeholders) and code
ENGLISH = ("Loading widget", "Error displaying widget", "Running ", "Executing ")


def no_code_visible(page) -> None:
    body = page.inner_text("body")
    for marker in ("Traceback", "import widgets", "xf.", "Error", ".ipynb", ".json", *ENGLISH):
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


def open_voila(page, url: str) -> None:
    """Open a Voila page; while its kernel runs, the spinner already speaks Chinese."""
    page.goto(url, wait_until="commit")
    page.wait_for_selector("#loading_text, .jupyter-widgets", state="attached", timeout=PAGE_TIMEOUT)
    loading = page.evaluate("() => document.getElementById('loading_text')?.textContent ?? null")
    assert loading is None or "正在打开页面" in loading, loading
    wait_voila(page)


def run_journey(page, url: str, username: str, shot, prefix: str, j: Journey = PINGTAI) -> None:
    login_first_time(page, url, username, shot, prefix)
    # the server starts, then 我的学习 (served by the learner's server, without a kernel)
    page.get_by_text("我的学习").first.wait_for(timeout=PAGE_TIMEOUT)
    wait_home(page)
    page.get_by_text(j.title).first.wait_for(timeout=PAGE_TIMEOUT)
    shot(page, f"{prefix}-03-my-learning")
    no_code_visible(page)
    fits_width(page)

    card = page.locator(".xf-module", has_text=j.title)
    card.get_by_role("button", name="开始学习").click()
    card.get_by_text("已准备好").wait_for(timeout=PAGE_TIMEOUT)
    shot(page, f"{prefix}-04-module-ready")
    card.get_by_text("点击进入第一课").click()
    wait_voila(page)
    shot(page, f"{prefix}-05-lesson1")
    no_code_visible(page)
    fits_width(page)

    open_voila(page, f"{url}/user/{username}/voila/render/{j.course_id}/module/assessment.ipynb")
    page.get_by_role("button", name="提交").wait_for(timeout=PAGE_TIMEOUT)
    no_code_visible(page)
    fits_width(page)
    attempt = 1
    if j.fail_first:
        fail_then_new_paper(page, j, shot, prefix)
        attempt = 2
    j.answer(page)
    page.wait_for_timeout(1500)  # answers are saved by the kernel on change
    shot(page, f"{prefix}-06-assessment-answered")

    page.reload()
    wait_voila(page)
    page.get_by_role("button", name="提交").wait_for(timeout=PAGE_TIMEOUT)
    j.still_answered(page)

    page.get_by_role("button", name="提交").click()
    receipt = page.locator("[role=status]", has_text="已提交").first
    receipt.wait_for(timeout=PAGE_TIMEOUT)
    receipt.scroll_into_view_if_needed()
    shot(page, f"{prefix}-07-submitted")
    # the receipt speaks of questions, not of the files nbgrader moved
    assert re.search(r"共 \d+ 题，已作答 \d+ 题", receipt.inner_text()), receipt.inner_text()
    score = page.get_by_text(re.compile(rf"第 {attempt} 次提交：[\d.]+ / 100 分"))
    score.wait_for(timeout=PAGE_TIMEOUT)
    page.get_by_text("解析：").first.wait_for()
    page.get_by_text("法律依据：").first.wait_for()
    score.scroll_into_view_if_needed()
    shot(page, f"{prefix}-08-results")
    fits_width(page)
    no_code_visible(page)
    text = score.inner_text()
    assert f"第 {attempt} 次提交：{j.score} / 100 分 · 已通过" in text, text
    results = page.locator(".widget-html", has_text="次提交").last.inner_text()
    # answers as the learner saw them: option text, not stored letters or JSON
    for said in j.results_say:
        assert said in results, results[:1500]
    assert "true" not in results and "q01" not in results, results[:1500]

    page.goto(f"{url}/user/{username}/")
    wait_home(page)
    card = page.locator(".xf-module", has_text=j.title)
    card.get_by_text("已合格").first.wait_for(timeout=PAGE_TIMEOUT)
    card.get_by_text(f"最高 {j.score} 分").first.wait_for()
    card.scroll_into_view_if_needed()
    shot(page, f"{prefix}-09-my-learning-after")
    if j.fail_first:
        # the exam rules as 我的学习 states them, and the blank first attempt in 我的错题本
        card_text = card.inner_text()
        assert "已提交 2/3 次" in card_text and "答案与解析：可查看" in card_text, card_text
        page.get_by_role("link", name="我的错题本").first.click()
        wait_voila(page)
        page.get_by_role("button", name="核对答案").first.wait_for(timeout=PAGE_TIMEOUT)
        shot(page, f"{prefix}-09b-wrongbook")
        no_code_visible(page)
        fits_width(page)
        page.goto(f"{url}/user/{username}/")
        wait_home(page)


def fail_then_new_paper(page, j: Journey, shot, prefix: str) -> None:
    """Attempt 1 of a drawn paper (3 allowed): 提交 with nothing answered → 0 points, 未通过, told
    what was wrong and how many submissions are left, but neither the key nor any 解析 reaches
    the page (the default rule: only after passing); then 再次作答 fetches attempt 2's paper."""
    page.get_by_text(re.compile(r"第 1 次作答，共 3 次机会")).first.wait_for(timeout=PAGE_TIMEOUT)
    page.get_by_role("button", name="提交").click()
    score = page.get_by_text(re.compile(r"第 1 次提交：0 / 100 分 · 未通过"))
    score.wait_for(timeout=PAGE_TIMEOUT)
    page.get_by_text(re.compile(r"已提交 1/3 次；还可提交 2 次")).first.wait_for()
    score.scroll_into_view_if_needed()
    shot(page, f"{prefix}-06a-failed-attempt")
    no_code_visible(page)
    body, markup = page.inner_text("body"), page.content()
    assert "正确答案：" not in body and "解析：" not in body, body[-1500:]
    leaked = [e for e in j.explanations if e in markup]
    assert not leaked, f"解析 on the page before passing: {leaked[:3]}"
    page.get_by_role("button", name="再次作答").click()
    page.get_by_text(re.compile(r"第 2 次作答，共 3 次机会")).first.wait_for(timeout=PAGE_TIMEOUT)
    shot(page, f"{prefix}-06b-second-paper")


def learner_lab_has_no_nbgrader(page, url: str, username: str) -> None:
    """Learners' servers load only what learners use: no JupyterLab (so no nbgrader sidebar in
    English), no nbgrader server side, no terminals."""
    for path in ("lab", "nbgrader_version", "api/terminals"):
        r = page.request.get(f"{url}/user/{username}/{path}")
        assert r.status == 404, (path, r.status)


def test_learner_desktop(platform, browser, shot):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        run_journey(page, platform.url, "ganbu1", shot, "learner-desktop")
    finally:
        context.close()


def pass_other_required(platform, username: str, course_id: str) -> None:
    """Record passes of the learner's required courses other than ``course_id``, as if taken
    earlier in the month: one browser journey proves a module end to end, the rest of a plan
    (年轻干部 has three required courses) only has to count."""
    from datetime import datetime, timedelta

    from sqlalchemy import select

    from grading.records.db import session_scope
    from grading.records.models import Campaign, CampaignCourse, Learner, Result

    with session_scope(platform.datadir.records_db_url) as s:
        camp = s.scalar(select(Campaign).where(Campaign.id == "xuexiyue_2026"))
        me = s.scalar(select(Learner).where(Learner.username == username))
        when = min(datetime.now(), datetime.combine(camp.end, datetime.min.time())) - timedelta(hours=2)
        for cc in s.scalars(select(CampaignCourse).where(
                CampaignCourse.campaign_id == camp.id, CampaignCourse.audience == me.audience,
                CampaignCourse.required.is_(True), CampaignCourse.course_id != course_id)):
            if s.scalar(select(Result).where(Result.learner_id == me.id, Result.course_id == cc.course_id,
                                             Result.passed.is_(True))) is None:
                s.add(Result(learner_id=me.id, course_id=cc.course_id, assignment="module", attempt=1,
                             score=90, max_score=100, passed=True, submitted_at=when))


def test_learner_phone(platform, browser, shot):
    """年轻干部 赵晓 passes their last required module on a phone: the campaign is complete."""
    pass_other_required(platform, "qingnian1", "weichengnian")
    context = browser.new_context(viewport={"width": 375, "height": 812}, locale="zh-CN",
                                  is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        assert WEICHENGNIAN.score >= PASS_MARK, WEICHENGNIAN.score
        run_journey(page, platform.url, "qingnian1", shot, "learner-phone", WEICHENGNIAN)
        page.get_by_text("必修课程已全部合格").first.wait_for(timeout=PAGE_TIMEOUT)
        page.get_by_text("必修课程已全部合格").first.scroll_into_view_if_needed()
        shot(page, "learner-phone-10-complete")
        learner_lab_has_no_nbgrader(page, platform.url, "qingnian1")
    finally:
        context.close()


# --- administrator --------------------------------------------------------------------------

NEW_LEARNER = ["ganbu9", "钱新", "海安市/城东镇", "干部", "学员", "", DEMO_PASSWORD]
# the phone journey above: 年轻干部 赵晓 (qingnian1, 海安市/城东镇) passed their last required
# module; 张明 (ganbu1) passed an elective only, so they are the only one complete
COMPLETE_NAME, COMPLETE_UNIT = "赵晓", "城东镇"
NOT_COMPLETE_NAME = "张明"


def import_roster_cli(platform, tmp_path):
    """``xuefa roster import`` as the administrator runs it: the demo roster plus one newcomer
    (the whole roster again: an administrator re-imports the city's full sheet)."""
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
    data = admin_dashboard(page, url, shot, prefix)
    admin_drill_down(page, url, shot, prefix)
    return data


def admin_dashboard(page, url: str, shot, prefix: str) -> bytes:
    """The overview dashboard counts participants and the one complete learner;
    生成 Excel 报表 → the workbook's bytes."""
    page.goto(f"{url}/services/dashboards/voila/render/overview.ipynb")
    page.get_by_text("应学人数").first.wait_for(timeout=PAGE_TIMEOUT)
    shot(page, f"{prefix}-03-dashboard-overview")
    no_code_visible(page)
    body = page.inner_text("body")
    participating = re.search(r"参学 (\d+) 人", body)
    assert participating and int(participating.group(1)) >= 2, body[:1500]
    complete = re.search(r"完成 (\d+) 人", body)
    assert complete and int(complete.group(1)) == 1, body[:1500]
    page.get_by_role("button", name="生成 Excel 报表").click()
    link = page.locator("a.xf-download")
    link.wait_for(timeout=PAGE_TIMEOUT)
    shot(page, f"{prefix}-04-dashboard-export")
    with page.expect_download(timeout=60_000) as dl:
        link.click()
    download = dl.value
    assert download.suggested_filename.endswith("完成情况.xlsx"), download.suggested_filename
    return Path(download.path()).read_bytes()


def admin_drill_down(page, url: str, shot, prefix: str) -> None:
    """分单位 → 下钻 to the learner's township: the person is listed as 已完成."""
    page.goto(f"{url}/services/dashboards/voila/render/by_unit.ipynb")
    pick = page.locator("select").first
    pick.wait_for(timeout=PAGE_TIMEOUT)
    no_code_visible(page)
    label = next(t.strip() for t in pick.locator("option").all_inner_texts() if COMPLETE_UNIT in t)
    pick.select_option(label=label)
    row = page.locator("tr", has_text=COMPLETE_NAME).first
    row.wait_for(timeout=PAGE_TIMEOUT)
    row.scroll_into_view_if_needed()
    shot(page, f"{prefix}-05-dashboard-drill-down")
    assert "已完成" in row.inner_text(), row.inner_text()
    other = page.locator("tr", has_text=NOT_COMPLETE_NAME).first.inner_text()
    assert "已完成" not in other, other
    no_code_visible(page)  # the drill-down once showed a NaT traceback here


def sheet_rows(book, name: str) -> list[list[str]]:
    return [["" if v is None else str(v) for v in row]
            for row in book[name].iter_rows(values_only=True)]


def test_administrator(platform, browser, shot, tmp_path):
    """Runs after the learners' journeys (same platform): ganbu1 passed the elective 平台入门,
    qingnian1 their last required module (complete)."""
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
    summary = {row[0]: row[1] for row in sheet_rows(book, "汇总") if len(row) >= 2}
    assert summary.get("完成人数") == "1", summary
    units = sheet_rows(book, "分单位")
    header = units[0]
    township = next(r for r in units[1:] if COMPLETE_UNIT in r[0])
    assert township[header.index("完成人数")] == "1", (header, township)
    laggards = [" ".join(r) for r in sheet_rows(book, "未完成名单")]
    # the workbook lists who still lacks something: the complete learner is not among them
    assert not any(COMPLETE_NAME in r for r in laggards), laggards
    assert any(NOT_COMPLETE_NAME in r for r in laggards), "the learner with an elective only is missing"
    assert any("钱新" in r for r in laggards), "the person imported just now is not in the export"


# --- trainer: JupyterLab, validate, publish -------------------------------------------------

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
        # test_authoring (same platform, earlier) may have logged trainer1 in already
        login(page, platform.url, "trainer1", shot, "trainer")
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


# --- trainer: grading a 述法 report in formgrader ---------------------------------------------

ESSAY_LEARNER = "ganbu2"  # 干部 (述法 is elective for 干部 only); no other journey uses them
ESSAY_COURSE = "shufa"
ESSAY_SERVICE = f"formgrader-{ESSAY_COURSE}"
# options are shuffled per learner: found by their text. 3 single choices + 3 判断题 right
SHUFA_CLICKS = ["党政主要负责人", "某县县长", "五"]
SHUFA_TRUE_FALSE = [(0, "错误"), (1, "错误"), (2, "正确")]  # q06, q07, q08 in page order
ESSAY_TEXT = ("本人认真学习宪法和行政诉讼法，年内主持召开法治建设专题会议四次；"
              "重大行政决策均经合法性审查和集体讨论决定；负责人出庭应诉三件，败诉案件已整改。")
ESSAY_POINTS = 32  # of 40: 36 objective + 32 = 68 / 100, above the pass mark of 60


def login(page, url: str, username: str, shot, prefix: str) -> None:
    """Log in whether or not this person already changed the initial password (the tests of this
    module share one platform and may run alone with -k)."""
    page.goto(f"{url}/hub/login")
    page.fill("#username_input", username)
    page.fill("#password_input", NEW_PASSWORD)
    page.click("#login_submit")
    page.wait_for_load_state()
    if "/hub/login" in page.url and not page.get_by_text("修改初始密码").count():
        login_first_time(page, url, username, shot, prefix)


def learner_submits_essay(page, url: str, shot) -> None:
    """The 干部 learner starts 述法, answers six objective questions and writes the report, 提交."""
    login_first_time(page, url, ESSAY_LEARNER, shot, "trainer-learner")
    page.get_by_text("我的学习").first.wait_for(timeout=PAGE_TIMEOUT)
    wait_home(page)
    card = page.locator(".xf-module", has_text="领导干部述法")
    card.get_by_role("button", name="开始学习").click()
    card.get_by_text("已准备好").wait_for(timeout=PAGE_TIMEOUT)

    page.goto(f"{url}/user/{ESSAY_LEARNER}/voila/render/{ESSAY_COURSE}/module/assessment.ipynb")
    wait_voila(page)
    page.get_by_role("button", name="提交").wait_for(timeout=PAGE_TIMEOUT)
    no_code_visible(page)
    for text in SHUFA_CLICKS:
        page.get_by_text(re.compile(r"^[A-D]\. " + re.escape(text) + "$")).click()
    for i, label in SHUFA_TRUE_FALSE:
        page.get_by_label(label, exact=True).nth(i).click()
    essay = page.get_by_placeholder("请在此作答")
    essay.fill(ESSAY_TEXT)
    page.wait_for_timeout(2000)  # answers are saved by the kernel on change
    page.get_by_role("button", name="提交").click()
    page.get_by_text("已提交").first.wait_for(timeout=PAGE_TIMEOUT)
    page.get_by_text("简答题由讲师评阅").first.wait_for()
    # objective part graded at once; the report waits for the trainer
    waiting = page.get_by_text(re.compile(r"简答题待讲师评阅"))
    waiting.first.wait_for(timeout=PAGE_TIMEOUT)
    page.get_by_text(re.compile(r"第 1 次提交：36 / 100 分")).first.wait_for()
    waiting.first.scroll_into_view_if_needed()
    shot(page, "trainer-learner-03-essay-submitted")


def trainer_grades_essay(page, url: str, shot) -> None:
    """From the hub home's 批改作业 link into formgrader: the learner's report gets a score."""
    import time

    login(page, url, "trainer1", shot, "trainer")
    page.goto(f"{url}/hub/home")
    link = page.locator("#xf-grading a", has_text="领导干部述法")
    link.wait_for()
    shot(page, "trainer-04-hub-home-grading-link")
    with page.context.expect_page() as popup:
        link.click()  # formgrader opens in a tab of its own (it refuses to be framed)
    fg = popup.value
    fg.set_default_timeout(60_000)
    fg.wait_for_url(re.compile(r"/formgrader/manage_assignments"), timeout=PAGE_TIMEOUT)
    fg.get_by_text("module").first.wait_for(timeout=PAGE_TIMEOUT)
    shot(fg, "trainer-04-formgrader-assignments")

    base = f"{url}/services/{ESSAY_SERVICE}/formgrader"
    # the submission appears once the grading service has autograded it
    deadline = time.monotonic() + 180
    sub_id = None
    while sub_id is None:
        r = fg.request.get(f"{base}/api/submitted_notebooks/module/assessment")
        assert r.ok, r.text()[:500]
        sub_id = next((s["id"] for s in r.json() if s["student"] == ESSAY_LEARNER), None)
        assert sub_id or time.monotonic() < deadline, f"no autograded submission: {r.text()[:500]}"
        if sub_id is None:
            time.sleep(3)
    fg.goto(f"{base}/gradebook/module/assessment")
    fg.get_by_text("Submission #1").first.wait_for(timeout=PAGE_TIMEOUT)
    shot(fg, "trainer-05-formgrader-submissions")

    fg.goto(f"{base}/submissions/{sub_id}/")
    fg.get_by_text(ESSAY_TEXT[:12]).first.wait_for(timeout=PAGE_TIMEOUT)  # the report as written
    score = fg.locator("input.score#q11")
    score.scroll_into_view_if_needed()
    score.fill(str(ESSAY_POINTS))
    score.press("Tab")  # formgrader saves on change
    fg.locator("#q11-comment").fill("事例具体，程序完整；问题查找部分可再具体些。")
    fg.locator("#q11-comment").press("Tab")
    # saved: formgrader no longer flags the cell as needing a manual grade
    fg.wait_for_function("() => !document.querySelector('input.score#q11')"
                         ".classList.contains('needs_manual_grade')", timeout=30_000)
    shot(fg, "trainer-06-formgrader-essay-graded")
    # the gradebook holds the trainer's score: nothing is left to grade by hand
    deadline = time.monotonic() + 60
    while True:
        r = fg.request.get(f"{base}/api/submitted_notebooks/module/assessment")
        row = next(s for s in r.json() if s["student"] == ESSAY_LEARNER)
        if not row["needs_manual_grade"]:
            break
        assert time.monotonic() < deadline, row
        time.sleep(2)
    assert row["score"] == 36 + ESSAY_POINTS, row


def learner_sees_grade(page, url: str, shot) -> None:
    """查看成绩 shows the final score once the grading service synced the trainer's grade
    (every ``manual_sync_interval``, 30 s by default), then 我的学习 shows 已合格."""
    import time

    page.goto(f"{url}/user/{ESSAY_LEARNER}/voila/render/{ESSAY_COURSE}/module/assessment.ipynb")
    wait_voila(page)
    final = page.get_by_text(re.compile(rf"第 1 次提交：{36 + ESSAY_POINTS} / 100 分 · 已通过"))
    deadline = time.monotonic() + 180
    while not final.count():
        assert time.monotonic() < deadline, page.inner_text("body")[-2000:]
        page.get_by_role("button", name="查看成绩").click()
        page.wait_for_timeout(5000)
    reviewed = page.get_by_text("简答题已由讲师评阅").first
    reviewed.wait_for()
    reviewed.scroll_into_view_if_needed()  # score line and the trainer's verdict on screen
    shot(page, "trainer-07-learner-sees-grade")

    page.goto(f"{url}/user/{ESSAY_LEARNER}/")
    wait_home(page)
    card = page.locator(".xf-module", has_text="领导干部述法")
    card.get_by_text("已合格").first.wait_for(timeout=PAGE_TIMEOUT)
    card.get_by_text(f"最高 {36 + ESSAY_POINTS} 分").first.wait_for()
    card.scroll_into_view_if_needed()
    shot(page, "trainer-08-learner-my-learning-graded")


def test_trainer_grades_essay_in_formgrader(platform, browser, shot):
    """A 干部 learner submits the 述法 assessment with a report; the trainer opens formgrader
    from the hub home (批改作业), scores the report; the learner then sees the final grade."""
    learner = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    trainer = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    try:
        lpage = learner.new_page()
        lpage.set_default_timeout(60_000)
        learner_submits_essay(lpage, platform.url, shot)
        tpage = trainer.new_page()
        tpage.set_default_timeout(60_000)
        trainer_grades_essay(tpage, platform.url, shot)
        learner_sees_grade(lpage, platform.url, shot)
    finally:
        trainer.close()
        learner.close()
