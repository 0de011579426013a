"""``xf.Paper()``: the learner's own paper, drawn server-side from the course's question bank.

The released assessment notebook holds no question at all (see ``grading.content.bank``'s
slot notebook): its ``xf.Paper()`` cell asks the records service (``GET api/paper`` as the
learner) for this attempt's paper — public questions only, no key, 解析 or partial-credit
rule — and renders them with the ordinary question widgets in assessment mode. The paper's
``token`` is kept in the answers file under ``"__paper__"``, so the grading service grades the
answers against the paper they were given for; a new token (a new attempt) starts from an
empty answers file.

In the grading service's autograde kernel the same cell finds ``<notebook>.paper.json`` beside
the answers (the full paper, written by the grader; that kernel has no network) and renders
from it without touching the answers; ``xf.grade_slot`` then scores each slot with its key.

Answers are saved under the question's bank id (``"q07"``), not its slot: the item record the
grader stores names both.
"""

from __future__ import annotations

import html
import json
import time
import urllib.error
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import ipywidgets as W

from widgets import model
from widgets.answers import AnswerStore, load_answers
from widgets.events import NoRecordsService, records_request
from widgets.questions import BLANK_RE, WIDGETS, CaseAnalysis, QuestionWidget
from widgets.session import Session, current

PAPER_KEY = "__paper__"  # answers-file entry naming the paper the answers belong to
SUFFIX = ".paper.json"
PAPER_PATH = "api/paper"  # records service endpoint (hub_config.records_service)
SECRET_FIELDS = ("key", "explanation", "partial")  # never shown before the reveal rule allows
BEIJING = timezone(timedelta(hours=8))
# question fields model.Question takes (a bank entry also has difficulty, tags, shuffle, slot)
_FIELDS = ("stem", "options", "key", "points", "explanation", "legal_basis", "partial",
           "scenario", "rubric")
REASON_TITLES = {"exhausted": "考试机会已用完", "closed": "考试已截止", "not_open": "考试尚未开始",
                 "cooldown": "暂时不能开始新的作答"}


# --- the paper as data -------------------------------------------------------------------------

def paper_path(notebook: str | Path) -> Path:
    nb = Path(notebook)
    return nb.with_name(nb.stem + SUFFIX)


def paper_file(session: Session | None = None) -> Path | None:
    """The grader's paper file for this kernel's notebook, if there is one."""
    sess = session or current()
    if sess.notebook is not None:
        p = paper_path(sess.notebook)
        return p if p.is_file() else None
    found = sorted(Path.cwd().glob("*" + SUFFIX))
    return found[0] if len(found) == 1 else None


def read_paper_file(session: Session | None = None) -> tuple[dict, list[str]] | None:
    """(paper, zh-CN problems) from the paper file; None when there is none (a learner's
    kernel). Never raises: an unreadable file gives an empty paper and a problem."""
    path = paper_file(session)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        return {"questions": []}, [f"试卷文件无法读取（{type(e).__name__}）"]
    if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
        return {"questions": []}, ["试卷文件格式无效"]
    data["questions"] = [q for q in data["questions"] if isinstance(q, dict)]
    return data, []


def slot_question(paper: dict, slot: str) -> dict | None:
    return next((q for q in paper.get("questions") or [] if q.get("slot") == slot), None)


def public(q: dict) -> dict:
    """``q`` without key, 解析 and partial-credit rule (also in case sub-questions)."""
    out = {k: v for k, v in q.items() if k not in SECRET_FIELDS}
    if isinstance(q.get("questions"), list):
        out["questions"] = [public(s) if isinstance(s, dict) else s for s in q["questions"]]
    return out


def to_question(d: dict) -> model.Question:
    """A bank question dict (full or public) as a :class:`widgets.model.Question`."""
    kw = {k: d[k] for k in _FIELDS if d.get(k) is not None}
    if d.get("type") == "case":
        subs = [to_question(s) for s in d.get("questions") or []]
        key = kw.pop("key", None)
        kw.pop("partial", None)
        q = model.Question(type="case", id=d.get("id"), questions=subs, **kw)
        if key is None and subs and all(s.key is not None for s in subs if s.type != "essay"):
            key = {s.id: s.key for s in subs if s.type != "essay"}
        q.key = model.normalise_key(q, key) if key is not None else None
        return q
    if d.get("type") == "fill" and "key" not in kw:
        # public paper: the number of blanks is what the stem shows
        kw["blanks"] = max(1, len(BLANK_RE.findall(str(d.get("stem") or ""))))
    return model.Question(type=d.get("type"), id=d.get("id"), **kw)


def stem_text(d: dict) -> str:
    """The question's text for item records and result lists (first 200 characters)."""
    text = str(d.get("stem") or "") or str(d.get("scenario") or "")
    return text[:200]


def explanation_text(d: dict) -> str:
    """解析 as one text: a case question's own, then each sub-question's, numbered."""
    parts = [str(d["explanation"])] if d.get("explanation") else []
    subs = d.get("questions") if d.get("type") == "case" else None
    for i, s in enumerate(subs or [], 1):
        if isinstance(s, dict) and s.get("explanation"):
            parts.append(f"（{i}）{s['explanation']}")
    return "；".join(parts)


def start_paper(store: AnswerStore, token: str) -> bool:
    """Make the answers file belong to paper ``token``; answers of another paper (an earlier,
    already submitted attempt) are cleared. Returns True when the file was started afresh."""
    answers, _problems = load_answers(store.path)
    if answers.get(PAPER_KEY) == token:
        return False
    with store._lock:  # one atomic write of the new content (AnswerStore.set merges with disk)
        store.answers = {PAPER_KEY: token}
        store._write()
    return True


def local_time(iso: Any) -> str:
    """An ISO datetime from the service as Beijing time to the minute (naive = Beijing)."""
    try:
        t = datetime.fromisoformat(str(iso))
    except ValueError:
        return str(iso)
    if t.tzinfo is None:
        t = t.replace(tzinfo=BEIJING)
    return f"{t.astimezone(BEIJING):%Y-%m-%d %H:%M}"


def attempt_html(data: dict) -> str:
    """第 N 次作答，共 M 次机会；成绩计法；截止时间；冷却 (zh-CN, every value escaped)."""
    e = html.escape
    parts = []
    if data.get("attempt") is not None and data.get("max") is not None:
        parts.append(f"第 {e(str(data['attempt']))} 次作答，共 {e(str(data['max']))} 次机会")
    counts = data.get("counts")
    if counts == "best":
        parts.append("成绩按最高一次计")
    elif counts in ("last", "latest"):
        parts.append("成绩按最后一次计")
    if data.get("closes"):
        parts.append(f"截止时间：{e(local_time(data['closes']))}")
    if data.get("next_at"):
        parts.append(f"下次可提交时间：{e(local_time(data['next_at']))}")
    if not parts:
        return ""
    return ("<div role='note' style='white-space:normal;background:#f0f5ff;padding:6px;"
            "margin:4px 0'>" + "；".join(parts) + "。</div>")


def fetch_paper(course: str, assignment: str, tries: int = 3, timeout: float = 20) -> dict:
    """GET paper, retried on a network error or timeout: on a deadline morning the service may
    be slow to answer, and a learner should not have to press 重新获取试卷 for that. A refusal
    (HTTP 403/404) is an answer, not retried."""
    query = {"course": course, "assignment": assignment}
    for i in range(tries - 1):
        try:
            return records_request(PAPER_PATH, query=query, timeout=timeout)
        except urllib.error.HTTPError as e:
            if e.code < 500:
                raise
        except (OSError, ValueError):
            pass
        time.sleep(1 + i)
    return records_request(PAPER_PATH, query=query, timeout=timeout)


def refusal(err: urllib.error.HTTPError) -> dict:
    """{"code", "reason", "error"} from the service's JSON error answer."""
    try:
        body = json.loads(err.read() or b"{}")
    except (OSError, ValueError):
        body = {}
    body = body if isinstance(body, dict) else {}
    error = body.get("error") or body.get("message") or ""
    if not isinstance(error, str) or not error:
        error = "暂时无法获取试卷，请稍后再试。" if err.code >= 500 else "无法获取试卷。"
    reason = body.get("reason") if isinstance(body.get("reason"), str) else ""
    return {"code": err.code, "reason": reason, "error": error}


def refusal_html(refused: dict) -> str:
    title = REASON_TITLES.get(refused.get("reason", ""), "")
    head = f"<b>{html.escape(title)}</b><br>" if title else ""
    return (f"<div role='alert' style='white-space:normal;color:#a8071a;background:#fff1f0;"
            f"padding:6px'>{head}{html.escape(refused['error'])}</div>")


# --- the widget --------------------------------------------------------------------------------

_current: "Paper | None" = None


def current_paper() -> "Paper | None":
    """The Paper of the current notebook (None before ``xf.Paper()`` or after a new setup)."""
    p = _current
    return p if p is not None and p.session is current() else None


def build_widget(q: dict) -> QuestionWidget:
    """A question widget for a public question dict (registers itself in the session)."""
    shuffle = q.get("shuffle") is not False
    if q.get("type") == "case":
        subs = [to_question(s) for s in q.get("questions") or []]
        extra = {k: q[k] for k in ("stem", "legal_basis", "explanation") if q.get(k) is not None}
        return CaseAnalysis(id=q.get("id"), scenario=str(q.get("scenario") or ""), questions=subs,
                            shuffle=shuffle, **extra)
    cls = WIDGETS.get(q.get("type"))
    if cls is None:
        raise ValueError(f"unknown question type {q.get('type')!r}")
    return cls(question=to_question(q), shuffle=shuffle)


class Paper(W.VBox):
    """试卷: this attempt's questions, numbered, with the attempt rules above them.

    ``data`` (tests, tools) is a paper answer as the service sends it; by default it comes from
    the paper file (autograde kernel) or the records service."""

    def __init__(self, data: dict | None = None, **kw):
        global _current
        self.session = current()
        full = W.Layout(width="100%")
        self.info = W.HTML(layout=full)
        self.body = W.VBox(layout=full)
        self.retry_button = W.Button(description="重新获取试卷", icon="refresh",
                                     layout=W.Layout(width="auto", display="none"))
        self.retry_button.on_click(lambda _b: self.load())
        super().__init__([self.info, self.body, self.retry_button],
                         layout=W.Layout(width="100%"), **kw)
        self.add_class("xf-paper")
        self.data: dict | None = None
        self.token: str | None = None
        self.refused: dict | None = None
        self.from_file = False
        self.question_widgets: dict[str, QuestionWidget] = {}
        self.listeners: list = []  # called after every (re)load: 提交 follows a refused paper
        _current = self
        self.load(data)

    @property
    def questions(self) -> list[dict]:
        return list((self.data or {}).get("questions") or [])

    def load(self, data: dict | None = None) -> bool:
        """(Re)read the paper; True when questions are shown."""
        shown = self._load(data)
        for listener in list(self.listeners):
            listener()
        return shown

    def _load(self, data: dict | None) -> bool:
        self.retry_button.layout.display = "none"
        if data is None:
            found = read_paper_file(self.session)
            if found is not None:
                self.from_file = True
                return self.show(found[0])
            try:
                data = fetch_paper(self.session.course, self.session.assignment)
            except urllib.error.HTTPError as e:
                self.refuse(refusal(e))
                return False
            except NoRecordsService:
                self.refuse({"code": None, "reason": "", "error": "不在平台环境中运行，无法获取试卷。"})
                return False
            except Exception:  # noqa: BLE001 - network or garbled answer: say so, offer a retry
                self.refuse({"code": None, "reason": "",
                             "error": "暂时无法获取试卷（网络或服务繁忙），请稍后点击“重新获取试卷”。"},
                            retry=True)
                return False
        if not isinstance(data, dict) or not isinstance(data.get("questions"), list):
            self.refuse({"code": None, "reason": "", "error": "试卷数据无效，请稍后重试。"}, retry=True)
            return False
        return self.show(data)

    def _forget_questions(self) -> None:
        for qid, w in self.question_widgets.items():
            if self.session.widgets.get(qid) is w:
                self.session.widgets.pop(qid, None)
                self.session.questions.pop(qid, None)
        self.question_widgets = {}

    def refuse(self, refused: dict, retry: bool = False) -> None:
        self.refused = refused
        self.data, self.token = None, None
        self._forget_questions()
        self.body.children = []
        self.info.value = refusal_html(refused)
        if retry or refused.get("reason") in ("cooldown", "not_open"):
            self.retry_button.layout.display = None

    def show(self, data: dict) -> bool:
        self.refused = None
        self.data = data
        token = data.get("token")
        self.token = token if isinstance(token, str) and token else None
        if self.token and not self.from_file:
            start_paper(self.session.reload(), self.token)
        self._forget_questions()
        rows: list[W.Widget] = []
        for i, q in enumerate(self.questions, 1):
            rows.append(W.HTML(f"<b>第 {i} 题</b>", layout=W.Layout(margin="8px 0 0")))
            try:
                w = build_widget(public(q))
            except Exception as e:  # noqa: BLE001 - one bad question must not hide the others
                rows.append(W.HTML(f"<span style='color:#c00'>本题无法显示（{html.escape(str(e))}），"
                                   "请联系讲师。</span>"))
                continue
            self.question_widgets[w.question.id] = w
            rows.append(w)
        self.body.children = rows
        total = sum(w.question.max_points for w in self.question_widgets.values())
        head = "" if self.from_file else attempt_html(data)
        self.info.value = head + (f"<div>本卷共 {len(self.questions)} 题，满分 {total:g} 分。</div>"
                                  if self.questions else "<div>试卷中没有题目。</div>")
        return bool(self.questions)

    def remaining(self, counted: int) -> int | None:
        """Submissions left after ``counted`` counted ones (None: the rules are unknown)."""
        if not self.data or not isinstance(self.data.get("max"), int):
            return None
        return max(0, self.data["max"] - counted)
