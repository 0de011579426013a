"""Question widgets: each renders a :class:`~widgets.model.Question` and holds the learner's
answer in the ``answer`` trait (stored shape, option identities). Persistence and practice
feedback follow from observing that trait, as ipywidgets widgets do with ``value``.
"""

from __future__ import annotations

import html
import re
import time
from typing import Any

import ipywidgets as W
from traitlets import Any as AnyTrait
from traitlets import Bool, observe

from widgets import model
from widgets.identity import shuffled
from widgets.model import Question
from widgets.session import current

FULL = dict(width="100%", max_width="100%")

# ipywidgets gives radio labels a fixed one-line height: long options overflow on a phone
STYLE = ("<style>.xf-question .widget-radio-box label,.xf-question .jupyter-widget-radio-box label"
         "{height:auto;min-height:var(--jp-widgets-radio-item-height);line-height:1.5;"
         "white-space:normal;margin-bottom:4px}"
         ".xf-question .widget-html-content,.xf-question .jupyter-widget-html-content"
         "{line-height:1.5;white-space:normal;overflow-wrap:anywhere}"
         ".xf-question button:focus-visible{outline:2px solid #1a73e8}</style>")


def _html(text: str) -> str:
    return html.escape(str(text)).replace("\n", "<br>")


class QuestionWidget(W.VBox):
    """Base class. ``answer`` is None until the learner answers."""

    qtype = ""
    answer = AnyTrait(None, allow_none=True)
    restoring = Bool(False)

    def __init__(self, id: str = "", stem: str = "", options=(), key=None, points=1.0,
                 explanation="", legal_basis: str = "", *, question: Question | None = None,
                 parent: "QuestionWidget | None" = None, shuffle: bool = True, **extra):
        self.question = question or Question(
            type=self.qtype, id=id, stem=stem, options=list(options), key=key, points=points,
            explanation=explanation, legal_basis=legal_basis, **extra)
        self.parent_case = parent
        # False for options in a meaningful order (numbers, durations, steps): an assessment
        # then shows them as written
        self.shuffle = bool(shuffle)
        self.session = current()
        self.tries = 0
        super().__init__(layout=W.Layout(**FULL, border="1px solid #ddd", padding="8px",
                                          margin="8px 0"))
        self.add_class("xf-question")
        self.status = W.HTML(layout=W.Layout(**FULL))
        self.feedback = W.HTML(layout=W.Layout(**FULL))
        self.body = self._build()
        children = [self._header(), self.body]
        if self.practice:
            self.check_button = W.Button(description="核对答案", button_style="primary",
                                         tooltip="查看对错、解析和法律依据",
                                         layout=W.Layout(width="auto"))
            self.check_button.on_click(lambda _b: self.check())
            children.append(self.check_button)
        children += [self.feedback, self.status]
        self.children = children
        if parent is None:
            self.session.register(self.question, self)
            self._restore(self.session.store.get(self.question.id))

    # --- context ------------------------------------------------------------
    @property
    def practice(self) -> bool:
        return not self.session.assessment

    @property
    def shuffle_salt(self) -> str:
        return self.parent_case.question.id if self.parent_case else ""

    def ordered_letters(self) -> list[str]:
        """Option identities in display order (shuffled per learner in assessments, unless
        ``shuffle=False``)."""
        q = self.question
        if self.session.assessment and self.shuffle:
            return shuffled(q.letters, self.session.username, q.id, self.shuffle_salt)
        return q.letters

    def _header(self) -> W.HTML:
        q = self.question
        label = model.TYPE_LABELS[q.type]
        pts = f"{q.max_points:g} 分"
        return W.HTML(f"{STYLE}<div class='xf-stem' style='white-space:normal'><b>【{label}】</b>"
                      f"<span style='color:#666'>（{pts}）</span> {_html(q.stem)}</div>",
                      layout=W.Layout(**FULL))

    # --- answer life cycle --------------------------------------------------
    def _build(self) -> W.Widget:
        raise NotImplementedError

    def _show(self, answer: Any) -> None:
        """Put a stored answer into the input widgets."""
        raise NotImplementedError

    def _restore(self, saved: Any) -> None:
        try:
            a = model.normalise_answer(self.question, saved)
        except model.InvalidAnswer:
            a = None
        self.restoring = True
        try:
            if a is not None:
                self._show(a)
            self.answer = a
        finally:
            self.restoring = False

    @observe("answer")
    def _answer_changed(self, change) -> None:
        if self.restoring:
            return
        self.feedback.value = ""
        if self.parent_case is not None:
            self.parent_case.child_changed(self)
            return
        try:
            self.session.store.set(self.question.id, change["new"])
            self.status.value = ("<span style='color:#888;font-size:90%'>答案已自动保存 "
                                 f"{time.strftime('%H:%M:%S')}</span>")
        except OSError as e:
            self.status.value = f"<span style='color:#c00'>答案保存失败：{_html(e)}</span>"

    # --- practice feedback --------------------------------------------------
    def check(self) -> model.Score | None:
        """Practice mode: show right/wrong, 解析 and 法律依据 (unlimited tries)."""
        q = self.question
        if q.key is None and q.type != "essay":
            self.feedback.value = "<span style='color:#c60'>本题没有提供标准答案。</span>"
            return None
        if self.answer is None:
            self.feedback.value = "<span style='color:#c60'>请先作答。</span>"
            return None
        s = model.score(q, self.answer)
        self.tries += 1
        self.feedback.value = feedback_html(q, s, self.answer)
        if self.parent_case is None:
            self.session.practice_tried(q.id, bool(s.correct))
        return s


def feedback_html(q: Question, s: model.Score, answer: Any, show_key: bool = False) -> str:
    parts = []
    if s.correct is None:
        parts.append("<b>已作答。</b>本题为简答题，由讲师评阅。")
    elif s.correct:
        parts.append(f"<b style='color:#080'>✔ 回答正确</b>（{s.points:g}/{s.max_points:g} 分）")
    elif s.points > 0:
        parts.append(f"<b style='color:#c60'>◐ 部分正确</b>（{s.points:g}/{s.max_points:g} 分），请再想想")
    else:
        parts.append("<b style='color:#c00'>✘ 回答错误</b>，请再想想")
    if show_key and q.key is not None:
        parts.append(f"正确答案：{_html(model.display_answer(q, q.key))}")
    expl = q.explanation
    if isinstance(expl, dict):
        expl = "；".join(f"{k}：{v}" for k, v in expl.items())
    if expl:
        parts.append(f"<b>解析：</b>{_html(expl)}")
    if q.type == "essay" and q.rubric:
        parts.append(f"<b>评分要点：</b>{_html(q.rubric)}")
    if q.legal_basis:
        parts.append(f"<b>法律依据：</b>{_html(q.legal_basis)}")
    return ("<div role='status' style='white-space:normal;background:#f7f7f7;padding:6px'>"
            + "<br>".join(parts) + "</div>")


class SingleChoice(QuestionWidget):
    """单选题. key: one letter, e.g. "B"."""

    qtype = "single"

    def _build(self):
        q = self.question
        opts = [(f"{model.letter(i)}. {q.options[model.LETTERS.index(L)]}", L)
                for i, L in enumerate(self.ordered_letters())]
        self.choice = W.RadioButtons(options=opts, index=None, layout=W.Layout(**FULL),
                                     style={"description_width": "initial"})
        self.choice.observe(lambda c: setattr(self, "answer", c["new"]), "value")
        return self.choice

    def _show(self, a):
        self.choice.value = a


class TrueFalse(QuestionWidget):
    """判断题. key: True or False."""

    qtype = "truefalse"

    def __init__(self, id: str = "", stem: str = "", key=None, **kw):
        super().__init__(id=id, stem=stem, key=key, **kw)

    def _build(self):
        self.choice = W.RadioButtons(options=[("正确", True), ("错误", False)], index=None,
                                     layout=W.Layout(**FULL))
        self.choice.observe(lambda c: setattr(self, "answer", c["new"]), "value")
        return self.choice

    def _show(self, a):
        self.choice.value = a


class MultipleChoice(QuestionWidget):
    """多选题. key: letters, e.g. "ACD"; partial="none"|"subset"|"proportional"."""

    qtype = "multiple"

    def _build(self):
        q = self.question
        self.boxes: dict[str, W.Checkbox] = {}
        rows = []
        for i, L in enumerate(self.ordered_letters()):
            cb = W.Checkbox(value=False, description=model.letter(i), indent=False,
                            layout=W.Layout(width="auto", flex="0 0 auto"))
            cb.observe(self._boxes_changed, "value")
            self.boxes[L] = cb
            text = W.HTML(_html(q.options[model.LETTERS.index(L)]),
                          layout=W.Layout(flex="1 1 0%", min_width="0"))
            rows.append(W.HBox([cb, text], layout=W.Layout(**FULL, align_items="center")))
        return W.VBox(rows, layout=W.Layout(**FULL))

    def _boxes_changed(self, _change):
        if self.restoring:
            return
        chosen = "".join(sorted(L for L, cb in self.boxes.items() if cb.value))
        self.answer = chosen or None

    def _show(self, a):
        for L, cb in self.boxes.items():
            cb.value = L in a


BLANK_RE = re.compile(r"_{3,}|（\s*）|\(\s*\)")


class FillBlank(QuestionWidget):
    """填空题. key: accepted variants per blank, e.g. [["六十日", "60日"]]."""

    qtype = "fill"

    def __init__(self, id: str = "", stem: str = "", key=None, blanks: int | None = None, **kw):
        if blanks is None:
            blanks = len(key) if isinstance(key, list) else max(1, len(BLANK_RE.findall(stem)))
        super().__init__(id=id, stem=stem, key=key, blanks=blanks, **kw)

    def _build(self):
        n = self.question.blanks
        self.texts = [W.Text(placeholder=f"第{i + 1}空" if n > 1 else "请填写",
                             description=f"第{i + 1}空" if n > 1 else "",
                             continuous_update=True, layout=W.Layout(**FULL))
                      for i in range(n)]
        for t in self.texts:
            t.observe(self._texts_changed, "value")
        return W.VBox(self.texts, layout=W.Layout(**FULL))

    def _texts_changed(self, _change):
        if self.restoring:
            return
        vals = [t.value for t in self.texts]
        self.answer = vals if any(v.strip() for v in vals) else None

    def _show(self, a):
        for t, v in zip(self.texts, a):
            t.value = v


class Ordering(QuestionWidget):
    """排序题. key: letters in the right order, e.g. "CABD". The starting order is shuffled."""

    qtype = "ordering"

    def _build(self):
        q = self.question
        self.order = shuffled(q.letters, self.session.username, q.id, "start" + self.shuffle_salt)
        if "".join(self.order) == q.key:  # never start on the answer
            self.order = self.order[1:] + self.order[:1]
        self.rows = W.VBox(layout=W.Layout(**FULL))
        self.confirm = W.Button(description="确认当前顺序", layout=W.Layout(width="auto"),
                                tooltip="顺序无需调整时按此确认")
        self.confirm.on_click(lambda _b: self._set_answer())
        self._render_rows()
        return W.VBox([self.rows, self.confirm], layout=W.Layout(**FULL))

    def _render_rows(self):
        q = self.question
        rows = []
        for pos, L in enumerate(self.order):
            up = W.Button(description="↑", tooltip="上移", layout=W.Layout(width="40px"),
                          disabled=pos == 0)
            down = W.Button(description="↓", tooltip="下移", layout=W.Layout(width="40px"),
                            disabled=pos == len(self.order) - 1)
            up.on_click(lambda _b, p=pos: self.move(p, -1))
            down.on_click(lambda _b, p=pos: self.move(p, +1))
            text = W.HTML(f"{pos + 1}. {_html(q.options[model.LETTERS.index(L)])}",
                          layout=W.Layout(flex="1 1 0%", min_width="0"))
            rows.append(W.HBox([text, up, down], layout=W.Layout(**FULL, align_items="center")))
        self.rows.children = rows

    def move(self, pos: int, delta: int) -> None:
        new = pos + delta
        if 0 <= new < len(self.order):
            self.order[pos], self.order[new] = self.order[new], self.order[pos]
            self._render_rows()
            self._set_answer()

    def _set_answer(self):
        self.answer = "".join(self.order)

    def _show(self, a):
        self.order = list(a)
        self._render_rows()


class Essay(QuestionWidget):
    """简答题, manually graded in formgrader. ``rubric`` guides graders (and practice)."""

    qtype = "essay"

    def __init__(self, id: str = "", stem: str = "", rubric: str = "", **kw):
        super().__init__(id=id, stem=stem, rubric=rubric, **kw)

    def _build(self):
        self.text = W.Textarea(placeholder="请在此作答", rows=6, continuous_update=True,
                               layout=W.Layout(**FULL))
        self.text.observe(lambda c: None if self.restoring else
                          setattr(self, "answer", c["new"] if c["new"].strip() else None), "value")
        return self.text

    def _show(self, a):
        self.text.value = a


WIDGETS = {c.qtype: c for c in (SingleChoice, MultipleChoice, TrueFalse, FillBlank, Ordering, Essay)}


def _sub_question(spec: Any, case_id: str) -> Question:
    if isinstance(spec, QuestionWidget):
        q = spec.question
        # it registered itself as a top-level question when built; it belongs to the case
        sess = current()
        if sess.widgets.get(q.id) is spec:
            sess.widgets.pop(q.id, None)
            sess.questions.pop(q.id, None)
        spec.close()
        return q
    if isinstance(spec, Question):
        return spec
    if isinstance(spec, dict):
        spec = dict(spec)
        spec.pop("shuffle", None)  # a widget setting, not question data (see CaseAnalysis)
        return Question(type=spec.pop("type"), **spec)
    raise TypeError(f"{case_id}: sub-question must be a question widget or a dict")


class CaseAnalysis(QuestionWidget):
    """案例分析题: a scenario and sub-questions (widgets or dicts with a "type").
    key (practice): dict of sub-question id -> key; points: sum of the sub-questions."""

    qtype = "case"

    def __init__(self, id: str = "", scenario: str = "", questions=(), stem: str = "",
                 key=None, **kw):
        # shuffle=False on the case (or on a dict sub-question) keeps sub-question options in order
        self._ordered = {s.get("id") for s in questions
                         if isinstance(s, dict) and s.get("shuffle") is False}
        self._ordered |= {s.question.id for s in questions
                          if isinstance(s, QuestionWidget) and not s.shuffle}
        subs = [_sub_question(s, id) for s in questions]
        if isinstance(key, dict):
            for sq in subs:
                if sq.id in key:
                    sq.key = model.normalise_key(sq, key[sq.id])
        kw.pop("points", None)
        super().__init__(id=id, stem=stem, key=None, scenario=scenario, questions=subs, **kw)
        if key is not None:
            self.question.key = model.normalise_key(self.question, key)
        elif all(sq.key is not None for sq in subs if sq.type != "essay"):
            self.question.key = {sq.id: sq.key for sq in subs if sq.type != "essay"}

    def _header(self):
        q = self.question
        head = super()._header()
        head.value += ("<div style='white-space:normal;background:#fbf8ef;border-left:4px solid #c9a;"
                       f"padding:6px;margin:4px 0'><b>案情：</b>{_html(q.scenario)}</div>")
        return head

    def _build(self):
        self.subs: dict[str, QuestionWidget] = {}
        for sq in self.question.questions:
            w = WIDGETS[sq.type](question=sq, parent=self,
                                 shuffle=self.shuffle and sq.id not in self._ordered)
            if hasattr(w, "check_button"):  # one 核对 for the whole case
                w.children = tuple(c for c in w.children if c is not w.check_button)
            self.subs[sq.id] = w
        return W.VBox(list(self.subs.values()), layout=W.Layout(**FULL))

    def child_changed(self, _child):
        ans = {sid: w.answer for sid, w in self.subs.items() if w.answer is not None}
        self.answer = ans or None

    def _show(self, a):
        for sid, w in self.subs.items():
            w._restore(a.get(sid))

    def check(self):
        s = super().check()
        if s is not None:
            for w in self.subs.values():
                sq = w.question
                if sq.key is not None and w.answer is not None or sq.type == "essay":
                    w.feedback.value = feedback_html(sq, model.score(sq, w.answer), w.answer)
        return s
