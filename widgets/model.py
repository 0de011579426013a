"""Questions as plain data, and how an answer is checked against a key.

Nothing here touches ipywidgets or the filesystem: the widgets render a :class:`Question`,
``xf.grade`` scores a stored answer with :func:`score`. Answers always name options by
identity (the letter of the option in the order the author wrote them), never by the
position a learner saw, so shuffling is invisible to scoring.

Stored answer shapes (what ``<notebook>.answers.json`` holds per question id):

========== ============================== ==========================
type        answer                         key
========== ============================== ==========================
single      ``"B"``                        ``"B"``
multiple    ``"ACD"`` (sorted letters)     ``"ACD"``
truefalse   ``true`` / ``false``           ``True`` / ``False``
fill        ``["六十日", ...]`` per blank  ``[["六十日", "60日"], ...]``
ordering    ``"CABD"``                     ``"CABD"``
case        ``{sub_id: sub answer}``       ``{sub_id: sub key}``
essay       ``"text"``                     (none: manually graded)
========== ============================== ==========================
"""

from __future__ import annotations

import re
import string
import unicodedata
from dataclasses import dataclass, field
from typing import Any

ID_RE = re.compile(r"^[a-z0-9_]+$")
LETTERS = string.ascii_uppercase

TYPE_LABELS = {
    "single": "单选题",
    "multiple": "多选题",
    "truefalse": "判断题",
    "fill": "填空题",
    "ordering": "排序题",
    "case": "案例分析题",
    "essay": "简答题",
}

# 多选 partial-credit policies: all-or-nothing, 少选得部分分/错选不得分, or per correct option.
PARTIAL_POLICIES = ("none", "subset", "proportional")


class InvalidAnswer(ValueError):
    """A stored answer that does not fit its question (hand-edited or corrupt file)."""


def letter(i: int) -> str:
    return LETTERS[i]


def normalise_text(s: str) -> str:
    """Compare fill-in answers leniently: full/half width (NFKC), whitespace, case."""
    s = unicodedata.normalize("NFKC", str(s))
    s = re.sub(r"\s+", "", s)
    return s.casefold()


@dataclass
class Question:
    """One question as an author wrote it. ``key``/``explanation`` may be absent (assessment)."""

    type: str
    id: str
    stem: str = ""
    options: list[str] = field(default_factory=list)
    key: Any = None
    points: float = 1.0
    explanation: str | dict = ""
    legal_basis: str = ""
    partial: str = "none"  # multiple/fill/ordering: see PARTIAL_POLICIES
    partial_ratio: float = 0.5  # share earned under the "subset" policy
    blanks: int = 1  # fill: number of blanks (from key when given)
    rubric: str = ""  # essay
    scenario: str = ""  # case
    questions: list["Question"] = field(default_factory=list)  # case sub-questions

    def __post_init__(self) -> None:
        if self.type not in TYPE_LABELS:
            raise ValueError(f"unknown question type {self.type!r}")
        if not isinstance(self.id, str) or not ID_RE.match(self.id):
            raise ValueError(f"question id {self.id!r} must match [a-z0-9_]+")
        if self.partial is True:
            self.partial = "subset"
        elif self.partial in (False, None):
            self.partial = "none"
        if self.partial not in PARTIAL_POLICIES:
            raise ValueError(f"{self.id}: partial must be one of {PARTIAL_POLICIES}")
        self.options = [str(o) for o in self.options]
        if self.type in ("single", "multiple", "ordering") and len(self.options) < 2:
            raise ValueError(f"{self.id}: needs at least two options")
        if len(self.options) > len(LETTERS):
            raise ValueError(f"{self.id}: too many options")
        if self.type == "case":
            ids = [q.id for q in self.questions]
            if not ids or len(set(ids)) != len(ids):
                raise ValueError(f"{self.id}: case needs sub-questions with unique ids")
            if any(q.type in ("case",) for q in self.questions):
                raise ValueError(f"{self.id}: cases cannot nest")
            if not self.points or self.points == 1.0:
                self.points = float(sum(q.points for q in self.questions))
        if self.key is not None:
            self.key = normalise_key(self, self.key)
            if self.type == "fill":
                self.blanks = len(self.key)
        self.points = float(self.points)

    @property
    def letters(self) -> list[str]:
        return [letter(i) for i in range(len(self.options))]

    @property
    def max_points(self) -> float:
        if self.type == "case":
            return float(sum(q.max_points for q in self.questions))
        return self.points

    def sub(self, sub_id: str) -> "Question | None":
        return next((q for q in self.questions if q.id == sub_id), None)


def normalise_key(q: Question, key: Any) -> Any:
    """Bring an author's key to the stored-answer shape; raise ValueError naming the question."""
    t = q.type
    if t == "single":
        k = str(key).strip().upper()
        if k not in q.letters:
            raise ValueError(f"{q.id}: key {key!r} is not one of {''.join(q.letters)}")
        return k
    if t == "multiple":
        k = "".join(sorted(set(str(key).upper().replace(",", "").replace(" ", ""))))
        if not k or any(c not in q.letters for c in k):
            raise ValueError(f"{q.id}: key {key!r} must be letters from {''.join(q.letters)}")
        return k
    if t == "truefalse":
        if not isinstance(key, bool):
            raise ValueError(f"{q.id}: key must be True or False")
        return key
    if t == "fill":
        if isinstance(key, str):
            key = [[key]]
        out = []
        for blank in key:
            variants = [blank] if isinstance(blank, str) else list(blank)
            if not variants:
                raise ValueError(f"{q.id}: every blank needs at least one accepted answer")
            out.append([str(v) for v in variants])
        return out
    if t == "ordering":
        k = str(key).strip().upper()
        if sorted(k) != q.letters:
            raise ValueError(f"{q.id}: key {key!r} must order all of {''.join(q.letters)}")
        return k
    if t == "case":
        if not isinstance(key, dict):
            raise ValueError(f"{q.id}: case key must be a dict of sub-question id -> key")
        out = {}
        for sid, skey in key.items():
            sq = q.sub(sid)
            if sq is None:
                raise ValueError(f"{q.id}: key names unknown sub-question {sid!r}")
            out[sid] = normalise_key(sq, skey)
        return out
    if t == "essay":
        return None
    raise ValueError(t)


_TRUE = {"true", "1", "对", "正确", "是", "√", "t", "yes"}
_FALSE = {"false", "0", "错", "错误", "否", "×", "f", "no"}


def normalise_answer(q: Question, answer: Any) -> Any:
    """Validate a stored answer. ``None`` means unanswered; bad shapes raise InvalidAnswer."""
    if answer is None or answer == "" or answer == [] or answer == {}:
        return None
    t = q.type
    try:
        if t == "single":
            a = str(answer).strip().upper() if isinstance(answer, str) else None
            if a not in q.letters:
                raise InvalidAnswer(f"{answer!r} 不是本题的选项")
            return a
        if t == "multiple":
            if isinstance(answer, list):
                answer = "".join(str(x) for x in answer)
            if not isinstance(answer, str):
                raise InvalidAnswer(f"{answer!r} 不是选项字母")
            a = "".join(sorted(set(answer.upper().replace(",", "").replace(" ", ""))))
            if any(c not in q.letters for c in a):
                raise InvalidAnswer(f"{answer!r} 含有本题没有的选项")
            return a or None
        if t == "truefalse":
            if isinstance(answer, bool):
                return answer
            s = str(answer).strip().casefold()
            if s in _TRUE:
                return True
            if s in _FALSE:
                return False
            raise InvalidAnswer(f"{answer!r} 不是“对”或“错”")
        if t == "fill":
            if isinstance(answer, str):
                answer = [answer]
            if not isinstance(answer, list) or not all(isinstance(x, (str, int, float)) or x is None for x in answer):
                raise InvalidAnswer("填空答案应为文字列表")
            return ["" if x is None else str(x) for x in answer]
        if t == "ordering":
            if isinstance(answer, list):
                answer = "".join(str(x) for x in answer)
            a = str(answer).strip().upper() if isinstance(answer, str) else ""
            if sorted(a) != q.letters:
                raise InvalidAnswer(f"{answer!r} 不是全部选项的一个排列")
            return a
        if t == "case":
            if not isinstance(answer, dict):
                raise InvalidAnswer("案例分析答案应为各小题答案")
            return {k: v for k, v in answer.items() if q.sub(k) is not None}
        if t == "essay":
            if not isinstance(answer, str):
                raise InvalidAnswer("简答答案应为文字")
            return answer
    except InvalidAnswer:
        raise
    except Exception as e:  # any odd JSON value: report, never crash grading
        raise InvalidAnswer(f"{answer!r}: {e}") from e
    raise InvalidAnswer(t)


@dataclass
class Score:
    points: float
    max_points: float
    correct: bool | None  # None: not auto-gradable (essay)
    problems: list[str] = field(default_factory=list)  # zh-CN notes on invalid parts


def score(q: Question, answer: Any, key: Any = None) -> Score:
    """Score ``answer`` (stored shape, may be invalid) against ``key`` (default ``q.key``)."""
    key = q.key if key is None else normalise_key(q, key)
    maxp = q.max_points
    if q.type == "essay":
        return Score(0.0, maxp, None)
    if q.type == "case":
        return _score_case(q, answer, key or {})
    problems: list[str] = []
    try:
        a = normalise_answer(q, answer)
    except InvalidAnswer as e:
        problems.append(f"{q.id}: 答案无效（{e}），按未作答计")
        a = None
    if key is None:
        problems.append(f"{q.id}: 缺少标准答案，无法评分")
        return Score(0.0, maxp, False, problems)
    frac = 0.0 if a is None else _fraction(q, a, key)
    pts = round(min(maxp, max(0.0, maxp * frac)), 4)
    return Score(pts, maxp, frac >= 1.0, problems)


def _fraction(q: Question, a: Any, key: Any) -> float:
    t = q.type
    if t in ("single", "truefalse"):
        return 1.0 if a == key else 0.0
    if t == "multiple":
        chosen, right = set(a), set(key)
        if chosen == right:
            return 1.0
        if q.partial == "none" or chosen - right:
            return 0.0
        if q.partial == "subset":
            return q.partial_ratio
        return len(chosen & right) / len(right)
    if t == "fill":
        hits = 0
        for i, variants in enumerate(key):
            given = a[i] if i < len(a) else ""
            if normalise_text(given) in {normalise_text(v) for v in variants}:
                hits += 1
        if hits == len(key):
            return 1.0
        return 0.0 if q.partial == "none" else hits / len(key)
    if t == "ordering":
        if a == key:
            return 1.0
        if q.partial == "none":
            return 0.0
        return sum(1 for x, y in zip(a, key) if x == y) / len(key)
    return 0.0


def _score_case(q: Question, answer: Any, key: dict) -> Score:
    problems: list[str] = []
    if answer is not None and not isinstance(answer, dict):
        problems.append(f"{q.id}: 案例分析答案格式无效，按未作答计")
        answer = {}
    answer = answer or {}
    total, all_right = 0.0, True
    for sq in q.questions:
        if sq.type == "essay":
            all_right = False
            continue
        s = score(sq, answer.get(sq.id), key.get(sq.id, sq.key))
        problems += [f"{q.id}." + p for p in s.problems]
        total += s.points
        all_right = all_right and bool(s.correct)
    maxp = q.max_points
    return Score(round(min(maxp, total), 4), maxp, all_right, problems)


def display_answer(q: Question, a: Any) -> str:
    """A learner-readable rendering of a stored answer or key (zh-CN)."""
    if a is None:
        return "（未作答）"
    if q.type == "truefalse":
        return "正确" if a else "错误"
    if q.type == "fill":
        if a and isinstance(a[0], list):
            return "；".join("/".join(v) for v in a)
        return "；".join(a)
    if q.type == "case" and isinstance(a, dict):
        return "；".join(f"{k}: {display_answer(q.sub(k), v)}" for k, v in a.items() if q.sub(k))
    return str(a)
