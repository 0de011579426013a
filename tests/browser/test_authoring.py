"""A trainer authors, previews and publishes a course in the browser, without writing Python
(issue 15's acceptance journey), on the shared ``xuefa up --demo`` platform.

trainer1: 课程编写 → 新建课程 (法律明白人) → imports a 30-row ``.xlsx`` bank with one bad row: the page
names the row and nothing is imported → the fixed file is imported → 法条表 versions → 在 JupyterLab
中编辑: two question Markdown cells typed into lesson1.ipynb with the keyboard (no code cell), saved →
学员预览 shows the questions without answers, 讲师预览 with them → 校验 → 发布 as an elective.
A 法律明白人 learner then finds the course on 我的学习, opens the lesson, and passes the drawn test
(answered from the bank the trainer imported, by stem). A second trainer, not on the course, gets
403 for its page and its publish. No page of the way shows English prose.

Every step's screenshot goes to ``courses/images/`` (the authoring guide, courses/README.md, shows them).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest

from tests.browser.authoring_data import (
    BAD_ROW,
    LAW,
    LAW_VERSION,
    LESSON_INTRO,
    LESSON_QUESTIONS,
    QUESTIONS,
    bank_xlsx,
)
from tests.browser.conftest import DEMO_PASSWORD, PAGE_TIMEOUT, english_words
from tests.browser.test_journeys import (
    click_answer,
    login,
    login_first_time,
    no_code_visible,
    open_voila,
    wait_home,
    wait_voila,
)
from tests.integration.conftest import VENV_BIN

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "courses" / "images"
COURSE_ID = "hunyin_jicheng"
TITLE = "婚姻家庭与继承"
AUDIENCE = "法律明白人"
LEARNER = "mingbai3"  # 冯师傅, 法律明白人: no other browser journey logs them in
TRAINER = "trainer1"
OTHER_TRAINER = ["trainer2", "周讲师", "海安市/市司法局", "政法干警", "讲师", "", DEMO_PASSWORD]
# names, files and products a trainer works with: data, not prose
NOT_PROSE = [COURSE_ID, "lesson1.ipynb", "assessment.ipynb", "course.yaml", "bank.yaml", "statutes.yaml",
             "source/module", "JupyterLab", "Markdown", "Excel", "xlsx", "Word", "docx", "ABCD", "xingzheng_fuyi", TRAINER, OTHER_TRAINER[0], LEARNER, "l1_q1", "l1_q2",
             *[q["id"] for q in QUESTIONS]]
SHEET_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def guide_shot(page, name: str, element=None) -> Path:
    """The viewport as ``courses/images/<name>.png``, reduced to a palette (a guide's picture, not a
    photograph: a few tens of kB instead of hundreds)."""
    if element is not None:
        element.scroll_into_view_if_needed()
    IMAGES.mkdir(parents=True, exist_ok=True)
    path = IMAGES / f"{name}.png"
    page.screenshot(path=str(path))
    try:
        from PIL import Image
    except ImportError:
        return path
    with Image.open(path) as im:
        small = im.convert("RGB").quantize(colors=128)
    small.save(path, optimize=True)
    return path


def no_english(page, selector: str = "body") -> None:
    # course ids on 课程编写's list (the shipped courses trainer1 teaches) are data too
    ids = page.eval_on_selector_all("[data-course]", "els => els.map(e => e.dataset.course)")
    words = english_words(page, selector, [*NOT_PROSE, *ids])
    assert words == set(), f"English on {page.url}: {sorted(words)}"


def workspace(platform) -> Path:
    return Path(getattr(platform.datadir, "workspace", platform.datadir.root / "workspace")) / COURSE_ID


def bank_ids(platform) -> list[str]:
    import yaml

    data = yaml.safe_load((workspace(platform) / "bank.yaml").read_text(encoding="utf-8")) or {}
    return [q["id"] for q in data.get("questions") or []]


def add_second_trainer(platform, tmp_path) -> None:
    """``xuefa roster import`` as the administrator runs it: the demo roster plus trainer2."""
    src = platform.roster_path.read_text(encoding="utf-8-sig").rstrip("\n")
    roster = tmp_path / "名单.csv"
    roster.write_text(src + "\n" + ",".join(OTHER_TRAINER) + "\n", encoding="utf-8")
    env = dict(os.environ, XUEFA_DATA_DIR=str(platform.datadir.root))
    env.pop("JUPYTERHUB_API_TOKEN", None)
    r = subprocess.run([str(VENV_BIN / "xuefa"), "roster", "import", str(roster),
                        "--data-dir", str(platform.datadir.root)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert platform.api("GET", f"/users/{OTHER_TRAINER[0]}").status_code == 200


def course_url(url: str) -> str:
    return f"{url}/hub/xuefa/author/{COURSE_ID}"


# --- trainer1: create, import, 法条表 -----------------------------------------------------------

def create_course(page, platform) -> None:
    url = platform.url
    page.goto(f"{url}/hub/home")
    page.click("#xf-author-link")
    page.get_by_role("button", name="新建课程", exact=True).wait_for()
    no_english(page)
    page.fill("input[name=course_id]", COURSE_ID)
    page.fill("input[name=title]", TITLE)
    page.check(f"input[name=audience][value={AUDIENCE}]")
    guide_shot(page, "01-author-new-course", page.get_by_role("button", name="新建课程", exact=True))
    page.get_by_role("button", name="新建课程", exact=True).click()
    page.wait_for_url(re.compile(rf"/hub/xuefa/author/{COURSE_ID}/?(\?.*)?$"))
    page.get_by_text("在 JupyterLab 中编辑").first.wait_for()
    no_english(page)
    guide_shot(page, "02-author-course-page")
    assert bank_ids(platform) == []


def import_bank(page, bad: bool):
    page.set_input_files("input[type=file][name=bank]", files=[
        {"name": "婚姻家庭与继承题库.xlsx", "mimeType": SHEET_MIME, "buffer": bank_xlsx(bad=bad)}])
    page.get_by_role("button", name="导入题库", exact=True).click()
    box = page.locator("#xf-bank .xf-errors" if bad else "#xf-bank .xf-ok").first
    box.wait_for()
    return box


def import_banks(page, platform) -> None:
    errors = import_bank(page, bad=True)
    text = errors.inner_text()
    assert f"第{BAD_ROW}行" in text and "[答案]" in text, text
    assert bank_ids(platform) == [], "a file with a bad row changed the bank"
    no_english(page)
    guide_shot(page, "03-bank-bad-row", errors)

    ok = import_bank(page, bad=False)
    assert page.locator(".xf-errors li").count() == 0, page.inner_text(".xf-errors")
    assert bank_ids(platform) == [q["id"] for q in QUESTIONS]
    no_english(page)
    guide_shot(page, "04-bank-imported", ok)
    # the round trip a colleague reviews: the export link gives the same 30 rows back
    href = page.get_by_role("link", name="导出题库（Excel）").get_attribute("href")
    r = page.request.get(href if href.startswith("http") else f"{platform.url}{href}")
    assert r.ok, r.status
    from io import BytesIO

    from openpyxl import load_workbook

    rows = list(load_workbook(BytesIO(r.body()), read_only=True)["题库"].iter_rows(values_only=True))
    assert [row[0] for row in rows[1:] if row[0]] == [q["id"] for q in QUESTIONS]


def fill_statutes(page, platform) -> None:
    versions = page.locator("input[name=version]")
    assert versions.count() >= 1, "法条表 lists no law without a version"
    for i in range(versions.count()):
        law = versions.nth(i).get_attribute("data-law")
        versions.nth(i).fill(LAW_VERSION if law == LAW else "2021年修订")
    save = page.get_by_role("button", name="保存法条表", exact=True)
    guide_shot(page, "05-statutes", save)
    save.click()
    page.locator("#xf-statutes .xf-ok").wait_for()
    table = (workspace(platform) / "statutes.yaml").read_text(encoding="utf-8")
    assert LAW in table and LAW_VERSION in table, table
    no_english(page)


# --- trainer1: JupyterLab ------------------------------------------------------------------------

def lesson_file(platform) -> Path:
    return workspace(platform) / "source" / "module" / "lesson1.ipynb"


def restart_server(page, url: str) -> None:
    """What the new course's page tells a trainer whose 学习空间 is already open (JupyterLab sees
    a new course folder from the next start): 首页 → 关闭我的学习空间 → 开启我的学习空间."""
    page.goto(f"{url}/hub/home")
    stop = page.locator("#stop")
    if stop.count() and stop.is_visible():
        stop.click()
        stop.wait_for(state="hidden", timeout=PAGE_TIMEOUT)
    page.click("#start")
    page.wait_for_selector(".jp-LabShell", timeout=PAGE_TIMEOUT)


def open_lab(page, context):
    link = page.get_by_role("link", name="在 JupyterLab 中编辑")
    href = link.get_attribute("href")
    assert "lab" in href and "lesson1.ipynb" in href, href
    if link.get_attribute("target") == "_blank":
        with context.expect_page() as popup:
            link.click()
        lab = popup.value
    else:
        link.click()
        lab = page
    lab.set_default_timeout(60_000)
    lab.on("dialog", lambda d: d.accept())
    lab.wait_for_selector(".jp-Notebook .jp-Cell", timeout=PAGE_TIMEOUT)
    # a notebook without kernel metadata makes Lab ask which kernel: any will do (none is run)
    try:
        lab.wait_for_selector(".jp-Dialog", timeout=5_000)
        lab.click(".jp-Dialog .jp-mod-accept")
    except Exception:  # noqa: BLE001 -- no dialog: the usual case
        pass
    return lab


def type_cell(lab, lines: list[str]) -> None:
    """From the selected cell: Esc (command mode), a (new cell above), m (Markdown), Enter (edit),
    the lines, Shift+Enter (render; the selection moves back down to the cell below)."""
    lab.keyboard.press("Escape")
    lab.keyboard.press("a")
    lab.keyboard.press("m")
    lab.keyboard.press("Enter")
    for i, line in enumerate(lines):
        if i:
            lab.keyboard.press("Enter")
        lab.keyboard.insert_text(line)
    lab.keyboard.press("Shift+Enter")


def cell_with(lab, text: str):
    return lab.locator(".jp-Notebook .jp-Cell", has_text=text).first


def write_lesson(lab, platform) -> None:
    """Types two question cells above the template's example question, then deletes the example
    (d d: it is the same in every new course), saves with Ctrl+S. The example stays the last
    cell while typing: Shift+Enter on a notebook's last cell would add a code cell below."""
    import nbformat

    example = cell_with(lab, "l1_example")
    example.click()
    for q in LESSON_QUESTIONS:
        type_cell(lab, q["markdown"])
    lab.keyboard.press("Escape")
    lab.keyboard.press("d")
    lab.keyboard.press("d")
    example.wait_for(state="detached")
    # the template's how-to gives way to the lesson's own text (learners would read it)
    lab.locator(".jp-Notebook .jp-Cell").first.click()
    lab.keyboard.press("Escape")
    lab.keyboard.press("Enter")
    lab.keyboard.press("Control+a")
    for i, line in enumerate(LESSON_INTRO):
        if i:
            lab.keyboard.press("Enter")
        lab.keyboard.insert_text(line)
    lab.keyboard.press("Shift+Enter")
    lab.keyboard.press("Escape")
    lab.keyboard.press("Control+s")
    # Lab's own saved state: the document's tab loses its unsaved mark
    lab.wait_for_function("() => !document.querySelector('.jp-mod-dirty')", timeout=30_000)
    deadline = time.monotonic() + 30
    while True:
        nb = nbformat.read(lesson_file(platform), as_version=4)
        text = "\n".join(c.source for c in nb.cells)
        if all(q["id"] in text for q in LESSON_QUESTIONS):
            break
        assert time.monotonic() < deadline, text[:2000]
        time.sleep(1)
    assert [c.cell_type for c in nb.cells if c.cell_type == "code"] == [], "a code cell in the lesson"
    assert "l1_example" not in text, "the example question was not deleted"
    assert nb.cells[0].source.startswith(LESSON_INTRO[0]), nb.cells[0].source
    # for the guide: the first question opened for editing shows the syntax line by line
    cell = cell_with(lab, LESSON_QUESTIONS[0]["stem"][:20])
    cell.dblclick()
    cell.locator(".cm-content").wait_for()
    news = lab.locator(".jp-toast-button", has_text="否")  # Lab's "news?" toast, not ours
    if news.count():
        news.first.click()
    guide_shot(lab, "06-jupyterlab-questions", cell)
    lab.keyboard.press("Escape")
    from grading.content.authoring import parse_question

    items = [parse_question(c.source, default_id="x") for c in nb.cells]
    mine = {i["id"]: i for i in items if i and i["id"] in ("l1_q1", "l1_q2")}
    assert mine["l1_q1"]["type"] == "single" and mine["l1_q1"]["key"] == "C", mine
    assert mine["l1_q2"]["type"] == "truefalse" and mine["l1_q2"]["key"] is False, mine
    # leave Lab's layout as a fresh login finds it (the launcher), for later tests on this platform
    lab.goto(re.sub(r"/lab/.*$", "/lab?reset", lab.url))
    lab.wait_for_selector(".jp-LabShell", timeout=PAGE_TIMEOUT)


# --- trainer1: previews, validate, publish -------------------------------------------------------

def previews(page, url: str) -> None:
    page.goto(f"{course_url(url)}/preview?as=learner")
    page.get_by_text(LESSON_QUESTIONS[1]["stem"][:20]).first.wait_for()
    body, markup = page.inner_text("body"), page.content()
    for q in LESSON_QUESTIONS:
        assert q["stem"][:20] in body, q["id"]
        assert q["explanation"] not in markup, f"{q['id']}: 解析 in the learner preview"
    # the questions as learners meet them: no 答案, 解析 or 法律依据 beside any question
    boxes = " ".join(page.locator(".xf-question").all_inner_texts()).replace("核对答案", "")
    assert boxes and not re.search("答案|解析|法律依据", boxes), boxes[:3000]
    # (some 判断题 state the rule itself: their 解析 is their stem)
    leaked = [q["id"] for q in QUESTIONS if q["explanation"] in markup
              and not any(q["explanation"] in x["stem"] for x in QUESTIONS)]
    assert not leaked, f"bank 解析 in the learner preview: {leaked}"
    # practice as a learner does: a wrong answer, then the right one, scored by the server
    q1 = page.locator(".xf-question[data-qid=l1_q1]")
    q1.locator("input[value=A]").check()
    q1.get_by_role("button", name="核对答案").click()
    q1.locator(".xf-feedback", has_text="回答错误").wait_for()
    q1.locator("input[value=C]").check()
    q1.get_by_role("button", name="核对答案").click()
    q1.locator(".xf-feedback", has_text="回答正确").wait_for()
    assert LESSON_QUESTIONS[0]["explanation"] in q1.locator(".xf-feedback").inner_text()
    q2 = page.locator(".xf-question[data-qid=l1_q2]")
    q2.locator("input[value=false]").check()
    q2.get_by_role("button", name="核对答案").click()
    q2.locator(".xf-feedback", has_text="回答正确").wait_for()
    no_english(page)
    guide_shot(page, "07-preview-learner", page.get_by_text(LESSON_QUESTIONS[0]["stem"][:20]).first)

    page.goto(f"{course_url(url)}/preview?as=trainer")
    page.get_by_text(LESSON_QUESTIONS[1]["stem"][:20]).first.wait_for()
    boxes = " ".join(page.locator(".xf-question").all_inner_texts())
    assert "答案" in boxes and LESSON_QUESTIONS[0]["explanation"] in boxes, boxes[:3000]
    no_english(page)
    guide_shot(page, "08-preview-trainer", page.get_by_text(LESSON_QUESTIONS[0]["stem"][:20]).first)


def validate_and_publish(page, url: str) -> None:
    page.goto(course_url(url))
    page.get_by_role("button", name="校验", exact=True).click()
    result = page.locator("#xf-check .xf-ok, #xf-check .xf-errors").first
    result.wait_for(timeout=PAGE_TIMEOUT)
    assert page.locator("#xf-check .xf-ok", has_text="校验通过").count(), result.inner_text()
    no_english(page)
    guide_shot(page, "09-validated", result)

    elective = page.locator("input[name=elective]")
    assert elective.is_checked()
    page.get_by_role("button", name="发布", exact=True).click()  # confirm(): accepted
    done = page.locator("#xf-publish .xf-ok, #xf-publish .xf-errors").first
    done.wait_for(timeout=PAGE_TIMEOUT)
    assert page.locator("#xf-publish .xf-ok").count(), done.inner_text()
    assert "选修课" in done.inner_text(), done.inner_text()
    no_english(page)
    guide_shot(page, "10-published", done)


def trainer_authors(context, platform, shot) -> None:
    url = platform.url
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.on("dialog", lambda d: d.accept())
    login(page, url, TRAINER, shot, "author")
    create_course(page, platform)
    import_banks(page, platform)
    fill_statutes(page, platform)
    restart_server(page, url)
    page.goto(course_url(url))
    lab = open_lab(page, context)
    write_lesson(lab, platform)
    if lab is page:
        page.goto(course_url(url))
    previews(page, url)
    validate_and_publish(page, url)


# --- the learner -----------------------------------------------------------------------------------

def learner_passes(context, url: str, shot) -> None:
    page = context.new_page()
    page.set_default_timeout(60_000)
    login_first_time(page, url, LEARNER, shot, "author-learner")
    page.get_by_text("我的学习").first.wait_for(timeout=PAGE_TIMEOUT)
    wait_home(page)
    card = page.locator(".xf-module", has_text=TITLE)
    card.wait_for(timeout=PAGE_TIMEOUT)
    guide_shot(page, "11-learner-my-learning", card)
    card.get_by_role("button", name="开始学习", exact=True).click()
    card.get_by_text("已准备好").wait_for(timeout=PAGE_TIMEOUT)
    card.get_by_text("点击进入第一课").click()
    wait_voila(page)
    for q in LESSON_QUESTIONS:
        page.locator(".xf-question", has_text=q["stem"][:20]).first.wait_for(timeout=PAGE_TIMEOUT)
    no_code_visible(page)
    guide_shot(page, "12-learner-lesson", page.locator(".xf-question").first)

    open_voila(page, f"{url}/user/{LEARNER}/voila/render/{COURSE_ID}/module/assessment.ipynb")
    try:
        page.get_by_role("button", name="提交").wait_for(timeout=PAGE_TIMEOUT)
    except Exception:  # noqa: BLE001 -- say what the learner saw instead
        shot(page, "author-learner-assessment-failed")
        raise AssertionError(f"no 提交 on the test page:\n{page.inner_text('body')[:3000]}") from None
    no_code_visible(page)
    drawn = [q for q in QUESTIONS if page.locator(".xf-question", has_text=q["stem"]).count()]
    assert len(drawn) == 10, [q["id"] for q in drawn]  # the template's blueprint: 5 单选 + 5 判断
    for q in drawn:
        click_answer(page, q)
    page.wait_for_timeout(1500)  # answers are saved by the kernel on change
    page.get_by_role("button", name="提交").click()
    score = page.get_by_text(re.compile(r"第 1 次提交：[\d.]+ / 100 分"))
    score.wait_for(timeout=PAGE_TIMEOUT)
    assert "第 1 次提交：100 / 100 分 · 已通过" in score.inner_text(), score.inner_text()
    no_code_visible(page)
    guide_shot(page, "13-learner-passed", score)

    page.goto(f"{url}/user/{LEARNER}/")
    wait_home(page)
    page.locator(".xf-module", has_text=TITLE).get_by_text("已合格").first.wait_for(timeout=PAGE_TIMEOUT)


# --- a trainer not on the course ---------------------------------------------------------------

def other_trainer_refused(context, url: str, shot) -> None:
    page = context.new_page()
    page.set_default_timeout(60_000)
    login_first_time(page, url, OTHER_TRAINER[0], shot, "author-other")
    page.goto(f"{url}/hub/xuefa/author")
    page.get_by_role("button", name="新建课程", exact=True).wait_for()
    assert COURSE_ID not in page.content() and TITLE not in page.inner_text("body")
    token = page.locator("input[name=_xsrf]").first.get_attribute("value")
    assert token
    r = page.goto(course_url(url))
    assert r.status == 403, r.status
    assert TITLE not in page.inner_text("body")
    r = page.request.post(f"{course_url(url)}/publish", form={"_xsrf": token, "elective": "on"})
    # refused as not this course's trainer, not by a missing XSRF token
    assert r.status == 403, r.status
    refusal = r.text()
    assert "XSRF cookie" not in refusal and "'_xsrf' argument" not in refusal, refusal[-1500:]


def test_trainer_authors_and_publishes_a_learner_passes(platform, browser, shot, tmp_path):
    add_second_trainer(platform, tmp_path)
    viewport = {"width": 1280, "height": 800}
    trainer = browser.new_context(viewport=viewport, locale="zh-CN", accept_downloads=True)
    learner = browser.new_context(viewport=viewport, locale="zh-CN")
    other = browser.new_context(viewport=viewport, locale="zh-CN")
    try:
        trainer_authors(trainer, platform, shot)
        learner_passes(learner, platform.url, shot)
        other_trainer_refused(other, platform.url, shot)
    finally:
        for c in (trainer, learner, other):
            c.close()
