"""我的学习: the learner's app page (rendered by Voila in the learner's own server).

Asks the records service (``GET {records}/api/me/learning`` with the learner's own
``JUPYTERHUB_API_TOKEN``, see ``grading.records.learner_home.my_learning``) for this month's modules,
and renders one card per module. 开始学习 fetches the module through nbgrader into
``~/<course_id>/module/`` (never over an existing copy: the learner's answers live there) and
links to its first lesson rendered by Voila. Where the course has exam rules the card also
says how many of the allowed submissions are used and whether the key may be seen yet; the
page links to 我的错题本. There is no timer and no ranking anywhere (国办函〔2026〕12号): only
what is required, what is passed, and the hours credited.
"""

from __future__ import annotations

import html
import os
from pathlib import Path
from urllib.parse import quote

import ipywidgets as W

from widgets.events import NoRecordsService, records_request
from widgets.exchange import ASSIGNMENT, exchange_app
from widgets.paper import local_time

# the pages hub_config.home installs into every learner's home (widgets may not import it)
HOME_PAGE = "我的学习.ipynb"
WRONGBOOK_PAGE = "我的错题本.ipynb"

# The module statuses grading.records.learner_home sends (that module is their definition;
# the kernel may not import grading, so they are spelled once more here, nowhere else).
NOT_STARTED, STUDYING, SUBMITTED, PASSED, FAILED = "未开始", "学习中", "已提交", "已合格", "未合格"
STATUS_COLOURS = {NOT_STARTED: "#888", STUDYING: "#1677ff", SUBMITTED: "#d48806", PASSED: "#389e0d",
                  FAILED: "#cf1322"}


def home_dir() -> Path:
    return Path(os.environ.get("XUEFA_HOME") or Path.home())


def server_prefix() -> str:
    """URL prefix of this learner's server, e.g. ``/user/ganbu1/``."""
    return os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/").rstrip("/") + "/"


def hub_page(path: str) -> str:
    """URL of a hub page (e.g. 修改密码), from the hub's base URL the spawner passes in."""
    return quote(os.environ.get("JUPYTERHUB_BASE_URL", "/").rstrip("/") + "/hub/" + path, safe="/")


def voila_url(*parts: str) -> str:
    return server_prefix() + "voila/render/" + "/".join(quote(p) for p in parts)


def load_learning(timeout: float = 10) -> dict:
    """The records service's answer for the token's user; raises RuntimeError (zh-CN) on failure."""
    try:
        return records_request("api/me/learning", timeout=timeout)
    except NoRecordsService as e:
        raise RuntimeError("无法连接学习记录服务（不在平台环境中运行）") from e
    except Exception as e:  # the page must say something useful, never a traceback
        raise RuntimeError("暂时无法读取学习记录（网络或服务繁忙），请稍后刷新页面") from e


def module_dir(course_id: str) -> Path:
    return home_dir() / course_id / ASSIGNMENT


def _exchange(course_id: str, kind: str):
    """nbgrader's ``kind`` exchange app for this module in the learner's home."""
    return exchange_app(kind, course=course_id, assignment=ASSIGNMENT, assignment_dir=home_dir(),
                        path_includes_course=True, quiet=True)


def fetch_module(course_id: str) -> Path:
    """nbgrader fetch_assignment into ``~/<course_id>/module`` unless it is already there."""
    dest = module_dir(course_id)
    if dest.is_dir() and any(dest.glob("*.ipynb")):
        return dest
    _exchange(course_id, "FetchAssignment").start()
    if not dest.is_dir():
        raise RuntimeError("课程尚未发布，请联系讲师")
    return dest


def fetch_feedback(course_id: str) -> list[Path]:
    """nbgrader fetch_feedback: the released feedback of every submission of this module
    (re-fetched each time: a trainer's later essay grade replaces the autograded one)."""
    try:
        _exchange(course_id, "FetchFeedback").start()
    except BaseException:  # noqa: BLE001 - nbgrader exits through self.fail when nothing is released yet
        pass
    return feedback_files(course_id)


def feedback_files(course_id: str) -> list[Path]:
    """nbgrader feedback HTML already fetched for this module, newest first."""
    root = module_dir(course_id) / "feedback"
    return sorted(root.glob("*/assessment.html"), reverse=True) if root.is_dir() else []


def _e(s) -> str:
    return html.escape(str(s))


def _num(x) -> str:
    """A number as the page shows it (``8``, ``7.5``); anything else escaped as text."""
    return f"{x:g}" if isinstance(x, (int, float)) else _e(x)


def header_html(data: dict) -> str:
    camp = data.get("campaign")
    name = _e(data.get("name") or data.get("username", ""))
    if not camp:
        return (f"<h2 style='margin:4px 0'>我的学习</h2><p>{name}，您好！"
                f"{_e(data.get('message', '目前没有进行中的学习活动。'))}</p>")
    # every value is escaped, numbers too: the page trusts the records service, not its data
    done = _e(data.get("required_passed", 0))
    total = _e(data.get("required_total", 0))
    left = _e(camp.get("days_left", 0))
    deadline = f"截止 {_e(camp.get('deadline', ''))}" + (f"，还剩 <b>{left}</b> 天" if camp.get("running") else "")
    # no emoji: office PCs and the server's Chromium have no colour-emoji font (a blank box)
    state = ("<b style='color:#080'>✔ 必修课程已全部合格</b>" if data.get("complete")
             else f"必修课程已合格 <b>{done}</b>/{total} 门")
    return (f"<h2 style='margin:4px 0'>我的学习 · {_e(camp.get('name', ''))}</h2>"
            f"<div style='white-space:normal'>{name}（{_e(data.get('audience_label', ''))}），您好！"
            f"{deadline}。<br>{state}；已获学时 <b>{_num(data.get('credited_hours', 0))}</b>。"
            f"合格线 {_num(camp.get('pass_mark', 60))} 分。</div>")


def exam_html(m: dict) -> str:
    """已提交 1/3 次 · 下次可提交 · 考试截止 · whether the key is open (empty without exam rules)."""
    used, mx = m.get("attempts_used"), m.get("attempts_max")
    if not isinstance(used, int) or not isinstance(mx, int):
        return ""
    parts = [f"已提交 <b>{used}/{mx}</b> 次" + ("（考试机会已用完）" if used >= mx else "")]
    if m.get("next_at"):
        parts.append(f"下次可提交：{_e(local_time(m['next_at']))}")
    if m.get("closes"):
        parts.append(f"考试截止：{_e(local_time(m['closes']))}")
    reveal = m.get("reveal")
    if reveal == "key":
        parts.append("答案与解析：<b>可查看</b>")
    elif reveal in ("score", "wrong"):
        parts.append("答案与解析：通过测试、用完考试次数或考试结束后公布")
    return "<br><span style='color:#555'>" + " · ".join(parts) + "</span>"


class ModuleCard(W.VBox):
    """One module: title, 必修/选修, hours, status and score, and what to do next."""

    def __init__(self, module: dict):
        self.module = module
        self.cid = module["course_id"]
        full = W.Layout(width="100%")
        self.info = W.HTML(layout=full)
        self.actions = W.HBox(layout=W.Layout(width="100%", flex_flow="row wrap"))
        self.message = W.HTML(layout=full)
        super().__init__([self.info, self.actions, self.message],
                         layout=W.Layout(width="100%", border="1px solid #ddd", padding="8px",
                                         margin="6px 0"))
        self.add_class("xf-module")
        self.render()

    @property
    def status(self) -> str:
        s = self.module.get("status", NOT_STARTED)
        if s == NOT_STARTED and module_dir(self.cid).is_dir():
            return STUDYING  # fetched: studying even before the first event arrives
        return s

    def render(self) -> None:
        m = self.module
        kind = "必修" if m.get("required") else "选修"
        colour = STATUS_COLOURS.get(self.status, "#888")
        score = f"，最高 {_num(m['score'])} 分" if m.get("score") is not None else ""
        manual = "（含人工评阅题）" if m.get("manual") else ""
        self.info.value = (
            f"<div style='white-space:normal'><b style='font-size:110%'>{_e(m['title'])}</b> "
            f"<span style='border:1px solid #aaa;border-radius:3px;padding:0 4px;font-size:85%'>{kind}</span> "
            f"<span style='color:#666'>{_num(m.get('hours', 0))} 学时{manual}</span><br>"
            f"<span style='color:#555'>{_e(m.get('summary', ''))}</span><br>"
            f"状态：<b style='color:{colour}'>{_e(self.status)}</b>{score}{exam_html(m)}</div>")
        fetched = module_dir(self.cid).is_dir()
        buttons: list[W.Widget] = []
        if not fetched:
            start = W.Button(description="开始学习", button_style="primary", icon="play",
                             layout=W.Layout(width="auto"))
            start.on_click(lambda _b: self.start())
            buttons.append(start)
        else:
            buttons.append(W.HTML(self._links_html()))
        self.actions.children = buttons

    def _links_html(self) -> str:
        # hrefs: voila_url and quote() percent-encode every part (quotes and < > included)
        links = []
        for i, lesson in enumerate(self.module.get("lessons") or ["lesson1.ipynb"], 1):
            label = "继续学习（第1课）" if i == 1 else f"第{i}课"
            links.append(f"<a href='{voila_url(self.cid, ASSIGNMENT, lesson)}' target='_self'>{label}</a>")
        links.append(f"<a href='{voila_url(self.cid, ASSIGNMENT, 'assessment.ipynb')}' target='_self'>结业测试</a>")
        if self.module.get("feedback") or self.module.get("status") in (PASSED, FAILED, SUBMITTED):
            links.append(f"<a href='{voila_url(self.cid, ASSIGNMENT, 'assessment.ipynb')}' target='_self'>"
                         "查看成绩与解析</a>")
            for fb in fetch_feedback(self.cid)[:1]:
                rel = fb.relative_to(home_dir())
                links.append(f"<a href='{server_prefix()}files/{quote(str(rel))}' target='_blank'>评阅反馈</a>")
        return " · ".join(links)

    def start(self) -> None:
        self.message.value = "正在准备课程……"
        try:
            fetch_module(self.cid)
        except BaseException as e:  # noqa: BLE001 - nbgrader calls sys.exit through self.fail
            self.message.value = (f"<span style='color:#c00' role='alert'>课程准备失败：{_e(e or type(e).__name__)}。"
                                  "请稍后重试。</span>")
            return
        self.render()
        first = (self.module.get("lessons") or ["lesson1.ipynb"])[0]
        self.message.value = (f"<b>已准备好。</b><a href='{voila_url(self.cid, ASSIGNMENT, first)}' "
                              "target='_self'>点击进入第一课 →</a>")


class MyLearning(W.VBox):
    """The whole 我的学习 page. ``data`` defaults to the records service's answer."""

    def __init__(self, data: dict | None = None, **kw):
        self.header = W.HTML(layout=W.Layout(width="100%"))
        self.required = W.VBox(layout=W.Layout(width="100%"))
        self.elective = W.VBox(layout=W.Layout(width="100%"))
        self.refresh_button = W.Button(description="刷新", icon="refresh", layout=W.Layout(width="auto"))
        self.refresh_button.on_click(lambda _b: self.refresh())
        # wrong answers of every course, practised again without effect on scores
        self.wrongbook_link = W.HTML(
            f"<a href='{voila_url(WRONGBOOK_PAGE)}' target='_self'>我的错题本</a>"
            "<span style='color:#666'>（答错的题目，再练一遍）</span>"
            f" · <a href='{hub_page('xuefa/password')}' target='_top'>修改密码</a>",
            layout=W.Layout(width="100%"))
        super().__init__([self.header, self.wrongbook_link, self.required, self.elective,
                          self.refresh_button],
                         layout=W.Layout(width="100%", max_width="900px"), **kw)
        self.cards: dict[str, ModuleCard] = {}
        self.refresh(data)

    def refresh(self, data: dict | None = None) -> None:
        try:
            data = data if data is not None else load_learning()
        except RuntimeError as e:
            self.header.value = f"<h2>我的学习</h2><p style='color:#c00' role='alert'>{_e(e)}</p>"
            return
        self.data = data
        self.header.value = header_html(data)
        mods = data.get("modules") or []
        self.cards = {m["course_id"]: ModuleCard(m) for m in mods}
        req = [self.cards[m["course_id"]] for m in mods if m.get("required")]
        ele = [self.cards[m["course_id"]] for m in mods if not m.get("required")]
        self.required.children = ([W.HTML("<h3 style='margin:8px 0 0'>必修课程</h3>")] + req) if req else []
        self.elective.children = ([W.HTML("<h3 style='margin:8px 0 0'>选修课程</h3>")] + ele) if ele else []
