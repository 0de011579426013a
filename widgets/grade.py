"""``xf.grade``: score one saved answer inside an nbgrader autograder test cell.

It re-reads ``<notebook>.answers.json`` from disk (what the learner submitted), displays an
``application/vnd.xuefa.item+json`` output for the grading service, and returns the points
as the cell's value (nbgrader partial credit: ``utils.determine_grade`` takes a float
``execute_result``; 0.0 gives zero). It never raises and never writes to stderr, because
nbgrader scores a cell with an error or any stderr output as zero *for the wrong reason*.
"""

from __future__ import annotations

import warnings
from typing import Any

from widgets import model
from widgets.session import current

MIME = "application/vnd.xuefa.item+json"


def _infer_question(qid: str, key: Any, points: float) -> model.Question:
    """A question that was never built in this kernel (its cell failed): guess from the key."""
    if isinstance(key, bool):
        t = "truefalse"
    elif isinstance(key, list):
        t = "fill"
    elif isinstance(key, dict):
        raise ValueError("案例分析题的题目单元格未运行，无法评分")
    else:
        k = str(key).upper()
        t = "single" if len(k) == 1 else "multiple"
        letters = max(k) if k else "A"
        return model.Question(type=t, id=qid, options=[""] * (model.LETTERS.index(letters) + 2),
                              points=points)
    return model.Question(type=t, id=qid, points=points)


def grade(qid: str, key: Any = None, explanation: Any = "", *, points: float | None = None,
          legal_basis: str | None = None, partial: Any = None) -> float:
    """Score question ``qid`` from the saved answers; returns the points earned."""
    item = grade_item(qid, key, explanation, points=points, legal_basis=legal_basis,
                      partial=partial)
    _display(item)
    return float(item["points"])


def grade_item(qid: str, key: Any = None, explanation: Any = "", *, points: float | None = None,
               legal_basis: str | None = None, partial: Any = None) -> dict:
    """The item record ``xf.grade`` displays (never raises)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _grade(qid, key, explanation, points, legal_basis, partial)
        except Exception as e:  # noqa: BLE001 - last resort: report, score zero
            return {"id": qid, "type": None, "correct": False, "points": 0.0,
                    "max_points": float(points or 0), "legal_basis": legal_basis or "",
                    "explanation": explanation if isinstance(explanation, str) else "",
                    "answer": None, "key": None,
                    "problems": [f"评分出错：{type(e).__name__}: {e}"]}


def _grade(qid, key, explanation, points, legal_basis, partial) -> dict:
    sess = current()
    store = sess.reload()
    problems = list(store.problems)
    q = sess.questions.get(qid)
    if q is None:
        q = _infer_question(qid, key, float(points or 1))
        problems.append(f"{qid}: 题目单元格未运行，按答案格式推断题型")
    if points is not None and q.type != "case":
        q.points = float(points)
    if partial is not None:
        q.partial = {True: "subset", False: "none", None: "none"}.get(partial, partial)
    if key is not None:
        key = model.normalise_key(q, key)
    elif q.key is not None:
        key = q.key
    raw = store.get(qid)
    s = model.score(q, raw, key)
    problems += s.problems
    try:
        shown_answer = model.normalise_answer(q, raw)
    except model.InvalidAnswer:
        shown_answer = raw
    item = {
        "id": qid,
        "type": q.type,
        "correct": s.correct,
        "points": s.points,
        "max_points": s.max_points,
        "legal_basis": legal_basis if legal_basis is not None else q.legal_basis,
        "explanation": explanation or q.explanation or "",
        "answer": shown_answer,
        "key": key,
    }
    if problems:
        item["problems"] = problems
    return item


def _display(item: dict) -> None:
    try:
        from IPython.display import display

        text = (f"{item['id']}: {item['points']:g}/{item['max_points']:g}"
                + (" ✔" if item.get("correct") else ""))
        display({MIME: item, "text/plain": text}, raw=True)
    except Exception:  # noqa: BLE001 - no display (plain python): the score is already returned
        pass
