"""我的学习 as plain HTML, rendered inside the learner's own server (no kernel).

:func:`render_page` turns the records service's ``api/me/learning`` answer
(:func:`grading.records.learner_home.my_learning`) into one self-contained, escaped, Chinese
HTML page: the campaign and the days left, the 导学 note, 通知公告, one card per module (必修/选修,
status, score, 已提交 n/m 次, 开始学习 or the lesson, 结业测试 and 查看成绩 links), 述法评议,
下载结业证书, 我的错题本 and 修改密码.

Why not a Voila page any more: a Voila page costs the learner a whole kernel (about 60 MB PSS)
for a page that only shows data, and under overload a kernel that dropped a request left the
page spinning for ever. This module is imported by the server extension
(:mod:`hub_config.home.server_ext`), so it stays light: standard library only (no ipywidgets,
no nbgrader, no SQLAlchemy), and learners' kernels are not involved at all.

Every value from the service is escaped (``html.escape``), numbers included, and every URL
part is percent-encoded: course titles, notices and names are typed by people and may be
hostile.
"""

from __future__ import annotations

import html
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

# The module statuses grading.records.learner_home sends (that module is their definition;
# this module must stay import-light in the learner's server, so they are spelled here too).
NOT_STARTED, STUDYING, SUBMITTED, PASSED, FAILED = "未开始", "学习中", "已提交", "已合格", "未合格"
STATUS_COLOURS = {NOT_STARTED: "#888", STUDYING: "#1677ff", SUBMITTED: "#d48806", PASSED: "#389e0d",
                  FAILED: "#cf1322"}
ASSIGNMENT = "module"
WRONGBOOK_PAGE = "我的错题本.ipynb"
# the page's own path under the server's prefix (hub_config.config's learner default URL)
PAGE_PATH = "xuefa/learning"
BEIJING = timezone(timedelta(hours=8))


def _e(s) -> str:
    return html.escape("" if s is None else str(s), quote=True)


def _num(x) -> str:
    """A number as the page shows it (``8``, ``7.5``); anything else escaped as text."""
    return f"{x:g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else _e(x)


def local_time(iso) -> str:
    """An ISO datetime from the service as Beijing time to the minute (naive = Beijing)."""
    try:
        t = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if t.tzinfo is None:
        t = t.replace(tzinfo=BEIJING)
    return f"{t.astimezone(BEIJING):%Y-%m-%d %H:%M}"


def safe_url(url) -> str | None:
    """A link target from the data (certificate, 述法评议) only when it stays on this site:
    an absolute path, never ``//host`` or a scheme such as ``javascript:``."""
    if not isinstance(url, str) or not url.startswith("/") or url.startswith("//") or "\\" in url:
        return None
    return url


class Links:
    """The URLs the page points at, from the server's prefix (``/user/<name>/``) and the hub's
    base URL."""

    def __init__(self, prefix: str = "/", hub_base: str = "/"):
        self.prefix = prefix.rstrip("/") + "/"
        self.hub_base = hub_base.rstrip("/") + "/"

    def voila(self, *parts: str) -> str:
        return self.prefix + "voila/render/" + "/".join(quote(p) for p in parts)

    def page(self) -> str:
        return self.prefix + PAGE_PATH

    def start(self, course_id: str) -> str:
        return self.prefix + PAGE_PATH + "/start/" + quote(course_id, safe="")

    def files(self, rel: str) -> str:
        return self.prefix + "files/" + quote(rel)

    def hub(self, path: str) -> str:
        return quote(self.hub_base + "hub/" + path, safe="/")


def header_html(data: dict) -> str:
    camp = data.get("campaign")
    name = _e(data.get("name") or data.get("username", ""))
    if not camp:
        return (f"<h1>我的学习</h1><p>{name}，您好！"
                f"{_e(data.get('message') or '目前没有进行中的学习活动。')}</p>")
    done = _e(data.get("required_passed", 0))
    total = _e(data.get("required_total", 0))
    left = _e(camp.get("days_left", 0))
    deadline = f"截止 {_e(camp.get('deadline', ''))}" + (f"，还剩 <b>{left}</b> 天" if camp.get("running") else "")
    # no emoji: office PCs and the server's Chromium have no colour-emoji font (a blank box)
    state = ("<b class='ok'>✔ 必修课程已全部合格</b>" if data.get("complete")
             else f"必修课程已合格 <b>{done}</b>/{total} 门")
    return (f"<h1>我的学习 · {_e(camp.get('name', ''))}</h1>"
            f"<p class='xf-summary'>{name}（{_e(data.get('audience_label', ''))}），您好！"
            f"{deadline}。<br>{state}；已获学时 <b>{_num(data.get('credited_hours', 0))}</b>。"
            f"合格线 {_num(camp.get('pass_mark', 60))} 分。</p>")


def guidance_html(g) -> str:
    """市领导导学: shown at the top when the data has one."""
    if not isinstance(g, dict) or not (g.get("title") or g.get("text")):
        return ""
    leader = f"<div class='muted'>{_e(g.get('leader'))}</div>" if g.get("leader") else ""
    return (f"<section class='xf-guidance'><h2>导学 · {_e(g.get('title', ''))}</h2>{leader}"
            f"<p>{_e(g.get('text', ''))}</p></section>")


def notices_html(notices) -> str:
    """通知公告 (nothing when there are none)."""
    items = [n for n in (notices or []) if isinstance(n, dict)] if isinstance(notices, list) else []
    if not items:
        return ""
    rows = "".join(
        f"<li><b>{_e(n.get('title', ''))}</b>"
        + (f" <span class='muted'>{_e(n.get('posted_at'))}</span>" if n.get("posted_at") else "")
        + f"<div>{_e(n.get('body', ''))}</div></li>"
        for n in items)
    return f"<section class='xf-notices'><h2>通知公告</h2><ul>{rows}</ul></section>"


def certificate_html(cert, complete: bool) -> str:
    """下载结业证书, once the campaign is complete."""
    if not complete or not isinstance(cert, dict):
        return ""
    url = safe_url(cert.get("url"))
    if url is None:
        return ""
    number = f"（编号 {_e(cert.get('number'))}）" if cert.get("number") else ""
    return (f"<section class='xf-certificate'><a class='btn primary' href='{_e(url)}'>下载结业证书</a>"
            f"{number}</section>")


def law_review_html(review) -> str:
    """述法评议: its status, the mean score when there is one, and the link."""
    if not isinstance(review, dict):
        return ""
    mean = review.get("mean")
    mean_text = f"，平均 {_num(round(mean, 1))} 分" if isinstance(mean, (int, float)) and not isinstance(mean, bool) else ""
    url = safe_url(review.get("url"))
    link = f" · <a href='{_e(url)}'>查看述法评议</a>" if url else ""
    return (f"<section class='xf-law-review'><h2>述法评议</h2>"
            f"<p>状态：<b>{_e(review.get('status', ''))}</b>{mean_text}{link}</p></section>")


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
    return "<div class='muted'>" + " · ".join(parts) + "</div>"


def module_status(m: dict, fetched: bool) -> str:
    s = m.get("status") or NOT_STARTED
    # fetched: studying even before the first learning event arrives
    return STUDYING if s == NOT_STARTED and fetched else s


def card_html(m: dict, links: Links, home: Path, xsrf_form: str = "", ready: bool = False) -> str:
    cid = str(m.get("course_id", ""))
    fetched = bool(cid) and (home / cid / ASSIGNMENT).is_dir()
    status = module_status(m, fetched)
    kind = "必修" if m.get("required") else "选修"
    colour = STATUS_COLOURS.get(status, "#888")
    score = f"，最高 {_num(m['score'])} 分" if m.get("score") is not None else ""
    manual = "（含人工评阅题）" if m.get("manual") else ""
    lessons = [x for x in (m.get("lessons") or []) if isinstance(x, str) and x] or ["lesson1.ipynb"]
    if not fetched:
        actions = (f"<form method='post' action='{_e(links.start(cid))}'>{xsrf_form}"
                   "<button type='submit' class='btn primary'>开始学习</button></form>")
    else:
        parts = []
        for i, lesson in enumerate(lessons, 1):
            label = "继续学习（第1课）" if i == 1 else f"第{i}课"
            parts.append(f"<a href='{_e(links.voila(cid, ASSIGNMENT, lesson))}'>{label}</a>")
        quiz = _e(links.voila(cid, ASSIGNMENT, "assessment.ipynb"))
        parts.append(f"<a href='{quiz}'>参加测试</a>")
        if m.get("feedback") or m.get("status") in (PASSED, FAILED, SUBMITTED):
            parts.append(f"<a href='{quiz}'>查看成绩与解析</a>")
            for fb in feedback_files(home, cid)[:1]:
                parts.append(f"<a href='{_e(links.files(str(fb.relative_to(home))))}' "
                             "target='_blank' rel='noopener'>评阅反馈</a>")
        actions = " · ".join(parts)
    note = ""
    if ready and fetched:
        note = (f"<div class='note' role='status'><b>已准备好。</b>"
                f"<a href='{_e(links.voila(cid, ASSIGNMENT, lessons[0]))}'>点击进入第一课 →</a></div>")
    return (f"<div class='xf-module' data-course='{_e(cid)}'>"
            f"<div><b class='title'>{_e(m.get('title', cid))}</b> <span class='tag'>{kind}</span> "
            f"<span class='muted'>{_num(m.get('hours', 0))} 学时{manual}</span></div>"
            f"<div class='muted'>{_e(m.get('summary', ''))}</div>"
            f"<div>状态：<b style='color:{colour}'>{_e(status)}</b>{score}</div>{exam_html(m)}"
            f"<div class='actions'>{actions}</div>{note}</div>")


def feedback_files(home: Path, course_id: str) -> list[Path]:
    """nbgrader feedback HTML already fetched for this module, newest first (the quiz page's
    查看成绩 fetches it; rendering this page never runs nbgrader)."""
    root = home / course_id / ASSIGNMENT / "feedback"
    try:
        return sorted(root.glob("*/assessment.html"), reverse=True) if root.is_dir() else []
    except OSError:
        return []


STYLE = """
body{font-family:"PingFang SC","Microsoft YaHei","Noto Sans CJK SC",sans-serif;margin:0;
 padding:12px;color:#222;background:#fafafa;line-height:1.6}
main{max-width:900px;margin:0 auto}
h1{font-size:1.4em;margin:4px 0}h2{font-size:1.1em;margin:10px 0 4px}
section,.xf-module{background:#fff;border:1px solid #ddd;border-radius:4px;padding:8px 10px;margin:8px 0;
 overflow-wrap:anywhere}
.muted{color:#666}.ok{color:#080}.title{font-size:1.1em}
.tag{border:1px solid #aaa;border-radius:3px;padding:0 4px;font-size:85%}
.actions{margin-top:6px}.note{margin-top:6px;color:#135200}
.btn{display:inline-block;padding:4px 14px;border:1px solid #1677ff;border-radius:4px;background:#fff;
 color:#1677ff;font-size:1em;cursor:pointer;text-decoration:none}
.btn.primary{background:#1677ff;color:#fff}
.error{color:#c00}
ul{padding-left:1.2em;margin:4px 0}
a{white-space:nowrap}
"""


def render_page(data: dict | None, links: Links, home: Path, *, xsrf_form: str = "",
                ready: str | None = None, error: str | None = None, alert: str | None = None) -> str:
    """The whole 我的学习 document. ``error`` (zh-CN) replaces the data when the records
    service could not be read; ``alert`` (zh-CN) is said above the data (开始学习 failed);
    ``ready`` names the module just fetched by 开始学习."""
    body: list[str] = []
    if alert:
        body.append(f"<p class='error' role='alert'>{_e(alert)}</p>")
    if error is not None or data is None:
        body.append("<h1>我的学习</h1>"
                    f"<p class='error' role='alert'>{_e(error or '暂时无法读取学习记录，请稍后刷新页面')}</p>")
    else:
        body.append(guidance_html(data.get("guidance")))
        body.append(header_html(data))
        body.append(notices_html(data.get("notices")))
        body.append(certificate_html(data.get("certificate"), bool(data.get("complete"))))
    body.append(f"<p><a href='{_e(links.voila(WRONGBOOK_PAGE))}'>我的错题本</a>"
                "<span class='muted'>（答错的题目，再练一遍）</span>"
                f" · <a href='{_e(links.hub('xuefa/password'))}'>修改密码</a></p>")
    if data is not None and error is None:
        mods = [m for m in (data.get("modules") or []) if isinstance(m, dict)]
        for required, label in ((True, "必修课程"), (False, "选修课程")):
            group = [m for m in mods if bool(m.get("required")) == required]
            if group:
                body.append(f"<h2>{label}</h2>")
                body.extend(card_html(m, links, home, xsrf_form, ready == m.get("course_id"))
                            for m in group)
        body.append(law_review_html(data.get("law_review")))
    body.append(f"<p><a class='btn' href='{_e(links.page())}'>刷新</a></p>")
    return ("<!DOCTYPE html><html lang='zh-CN'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>我的学习</title><style>{STYLE}</style></head>"
            f"<body><main>{''.join(body)}</main></body></html>")


def home_dir() -> Path:
    return Path(os.environ.get("XUEFA_HOME") or Path.home())
