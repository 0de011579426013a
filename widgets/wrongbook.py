"""错题本: the learner's wrong answers across courses, to practise again.

``xf.WrongBook()`` asks the records service (``GET api/wrongbook`` as the learner) for the
questions they answered wrongly in counted attempts, latest first, one per (course, question).
A question whose course's reveal rule allows the key comes with key, 解析 and 法律依据 and is
rendered as a practice question (核对答案 as in lessons); the others come without them and are
listed with the learner's answer only. The page is practice: its answers go to its own answers
file (``我的错题本.answers.json``), nothing is submitted and no score changes.
"""

from __future__ import annotations

import hashlib
import html
from typing import Any

import ipywidgets as W

from widgets import model
from widgets.events import NoRecordsService, records_request
from widgets.home import HOME_PAGE, voila_url
from widgets.paper import build_widget, to_question
from widgets.session import current

WRONGBOOK_PATH = "api/wrongbook"  # records service endpoint (hub_config.records_service)
NOTEBOOK = "我的错题本.ipynb"
LOCKED_NOTE = "通过测试或用完考试次数后可查看解析"


def _e(s: Any) -> str:
    return html.escape(str(s))


def load_wrongbook(timeout: float = 10) -> list[dict]:
    """The service's items; raises RuntimeError (zh-CN) when it cannot be read."""
    try:
        answer = records_request(WRONGBOOK_PATH, timeout=timeout)
    except NoRecordsService as e:
        raise RuntimeError("无法连接学习记录服务（不在平台环境中运行）") from e
    except Exception as e:  # the page must say something useful, never a traceback
        raise RuntimeError("暂时无法读取错题本（网络或服务繁忙），请稍后刷新") from e
    items = (answer or {}).get("items") if isinstance(answer, dict) else None
    return [i for i in items or [] if isinstance(i, dict) and isinstance(i.get("question"), dict)]


def practice_id(course_id: str, qid: str) -> str:
    """A question id unique on this page (two courses may both have a "q01")."""
    pid = f"{course_id}__{qid}"
    if model.ID_RE.match(pid) and len(pid) <= 64:
        return pid
    return "w" + hashlib.sha256(pid.encode()).hexdigest()[:16]


def answer_text(q: dict, answer: Any) -> str:
    """The learner's earlier answer in their terms (option texts, 正确/错误)."""
    from widgets.submit import shown_answer

    try:
        return shown_answer(to_question(q), answer)
    except Exception:  # noqa: BLE001 - an item without options etc.: show the answer as stored
        return shown_answer(None, answer) if answer is not None else "（未作答）"


def locked_html(q: dict, answer: Any) -> str:
    """A question shown without key: stem, scenario, options and what the learner answered."""
    parts = []
    label = model.TYPE_LABELS.get(q.get("type"), "")
    if label:
        parts.append(f"<b>【{_e(label)}】</b>")
    if q.get("scenario"):
        parts.append(f"<div><b>案情：</b>{_e(q['scenario'])}</div>")
    if q.get("stem"):
        parts.append(f"<div>{_e(q['stem'])}</div>")
    opts = q.get("options") if isinstance(q.get("options"), list) else []
    if opts:
        parts.append("<div>" + "<br>".join(f"{model.LETTERS[i]}. {_e(o)}"
                                           for i, o in enumerate(opts[:26])) + "</div>")
    for i, sub in enumerate(q.get("questions") or [], 1):
        if isinstance(sub, dict) and sub.get("stem"):
            parts.append(f"<div>（{i}）{_e(sub['stem'])}</div>")
    parts.append(f"<div>您的答案：{_e(answer_text(q, answer))}</div>")
    return "<div style='white-space:normal'>" + "".join(parts) + "</div>"


def revealed_html(q: dict) -> str:
    """Key, 解析 and 法律依据 of a revealed question that cannot be practised (no options)."""
    from widgets.paper import explanation_text
    from widgets.submit import shown_answer

    parts = []
    if q.get("key") is not None:
        try:
            key = shown_answer(to_question(q), to_question(q).key)
        except Exception:  # noqa: BLE001 - as stored
            key = shown_answer(None, q["key"])
        parts.append(f"正确答案：{_e(key)}")
    if explanation_text(q):
        parts.append(f"<b>解析：</b>{_e(explanation_text(q))}")
    if q.get("legal_basis"):
        parts.append(f"<b>法律依据：</b>{_e(q['legal_basis'])}")
    return ("<div style='white-space:normal;background:#f7f7f7;padding:6px'>"
            + "<br>".join(parts) + "</div>") if parts else ""


class WrongBook(W.VBox):
    """The whole 我的错题本 page. ``items`` defaults to the records service's answer."""

    def __init__(self, items: list[dict] | None = None, **kw):
        self.session = current()
        self.header = W.HTML(layout=W.Layout(width="100%"))
        self.list = W.VBox(layout=W.Layout(width="100%"))
        self.refresh_button = W.Button(description="刷新", icon="refresh", layout=W.Layout(width="auto"))
        self.refresh_button.on_click(lambda _b: self.refresh())
        super().__init__([self.header, self.list, self.refresh_button],
                         layout=W.Layout(width="100%", max_width="900px"), **kw)
        self.add_class("xf-wrongbook")
        self.practice: dict[str, Any] = {}  # page id -> practice widget
        self.refresh(items)

    def refresh(self, items: list[dict] | None = None) -> None:
        back = f"<a href='{voila_url(HOME_PAGE)}' target='_self'>← 返回我的学习</a>"
        try:
            items = items if items is not None else load_wrongbook()
        except RuntimeError as e:
            self.header.value = (f"<h2>我的错题本</h2>{back}"
                                 f"<p style='color:#c00' role='alert'>{_e(e)}</p>")
            return
        self.items = items
        for pid in self.practice:
            self.session.questions.pop(pid, None)
            self.session.widgets.pop(pid, None)
        self.practice = {}
        open_n = sum(1 for i in items if i.get("revealed"))
        intro = ("您还没有答错的题目。" if not items else
                 f"共 {len(items)} 道答错的题，其中 {open_n} 道可查看答案与解析。"
                 "这里的练习不计分，也不影响考试成绩。")
        self.header.value = (f"<h2 style='margin:4px 0'>我的错题本</h2>{back}"
                             f"<p style='white-space:normal'>{intro}</p>")
        self.list.children = [self._card(n, it) for n, it in enumerate(items, 1)]

    def _card(self, n: int, item: dict) -> W.Widget:
        q = dict(item["question"])
        title = (f"<div style='margin-top:10px'><b>{n}. {_e(item.get('course_title') or item.get('course_id', ''))}"
                 "</b></div>")
        parts: list[W.Widget] = [W.HTML(title)]
        answer = item.get("answer")
        if not item.get("revealed"):
            parts.append(W.HTML(locked_html(q, answer)
                                + f"<div style='color:#888'>（{LOCKED_NOTE}）</div>"))
            return W.VBox(parts, layout=W.Layout(width="100%"))
        pid = practice_id(str(item.get("course_id", "")), str(q.get("id", "")))
        try:
            w = build_widget(dict(q, id=pid))
        except Exception:  # noqa: BLE001 - no options/stem (a fixed paper's item): show the key
            parts.append(W.HTML(locked_html(q, answer) + revealed_html(q)))
            return W.VBox(parts, layout=W.Layout(width="100%"))
        self.practice[pid] = w
        parts.append(W.HTML(f"<div style='color:#666'>上次的答案：{_e(answer_text(q, answer))}</div>"))
        parts.append(w)
        return W.VBox(parts, layout=W.Layout(width="100%"))
