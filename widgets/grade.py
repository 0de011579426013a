"""``xf.grade`` and ``xf.grade_slot``: score one saved answer inside an nbgrader autograder
test cell (``grade`` with the key written in the cell, ``grade_slot`` with the key from the
learner's drawn paper, which the grading service puts beside the answers).

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
    return score_item(q, store.get(qid), key,
                      explanation=explanation or q.explanation or "",
                      legal_basis=legal_basis if legal_basis is not None else q.legal_basis,
                      problems=problems)


def score_item(q: model.Question, raw: Any, key: Any, *, explanation: Any, legal_basis: str,
               problems: list[str]) -> dict:
    """The one scoring path of ``xf.grade`` and ``xf.grade_slot``: the item record for the
    stored answer ``raw`` of ``q`` against ``key`` (already in stored shape)."""
    problems = list(problems)
    s = model.score(q, raw, key)
    problems += s.problems
    try:
        shown_answer = model.normalise_answer(q, raw)
    except model.InvalidAnswer:
        shown_answer = raw
    item = {
        "id": q.id,
        "type": q.type,
        "correct": s.correct,
        "points": s.points,
        "max_points": s.max_points,
        "legal_basis": legal_basis or "",
        "explanation": explanation,
        "answer": shown_answer,
        "key": key,
    }
    if problems:
        item["problems"] = problems
    return item


def grade_slot(slot: str) -> float:
    """Score paper slot ``slot`` (``"s01"``) in an autograde kernel: the question and its key
    come from ``<notebook>.paper.json``, which the grading service puts beside the answers; the
    answer is the one saved under the question's bank id. Displays the item (with ``slot`` and
    ``stem``) and returns the points. A kernel without a paper file (the learner's own: the
    file never reaches learners) scores 0.0 and shows nothing."""
    item = slot_item(slot)
    if item is None:
        return 0.0
    _display(item)
    return float(item["points"])


def slot_item(slot: str) -> dict | None:
    """The item ``xf.grade_slot`` displays, or None without a paper file (never raises)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = None
        try:
            from widgets import paper

            found = paper.read_paper_file()
            if found is None:
                return None
            data, problems = found
            q = paper.slot_question(data, slot)
            if q is None:
                return _failed(str(slot), None, [f"试卷中没有第 {slot} 题"] + problems, slot=slot)
            return _grade_paper_question(q, slot, data, problems)
        except Exception as e:  # noqa: BLE001 - last resort: report, score zero
            qid = q.get("id") if isinstance(q, dict) else str(slot)
            return _failed(str(qid), q, [f"评分出错：{type(e).__name__}: {e}"], slot=slot)


def _grade_paper_question(qd: dict, slot: str, data: dict, problems: list[str]) -> dict:
    from widgets import paper

    sess = current()
    store = sess.reload()
    problems = problems + list(store.problems)
    token = store.get(paper.PAPER_KEY)
    if token is not None and data.get("token") and token != data["token"]:
        # answers for another paper (a stale tab): its ids may name other questions
        problems.append("答案文件属于另一份试卷，本题按未作答计")
        raw = None
    else:
        raw = store.get(qd["id"])
    q = paper.to_question(qd)
    item = score_item(q, raw, q.key, explanation=paper.explanation_text(qd),
                      legal_basis=str(qd.get("legal_basis") or ""), problems=problems)
    item["slot"] = slot
    item["stem"] = paper.stem_text(qd)
    return item


def _failed(qid: str, qd: dict | None, problems: list[str], slot: str | None = None) -> dict:
    qd = qd if isinstance(qd, dict) else {}
    try:
        maxp = float(qd.get("points") or 0)
    except (TypeError, ValueError):
        maxp = 0.0
    item = {"id": qid, "type": qd.get("type"), "correct": False, "points": 0.0,
            "max_points": maxp, "legal_basis": str(qd.get("legal_basis") or ""),
            "explanation": "", "answer": None, "key": None, "problems": problems}
    if slot is not None:
        item["slot"] = slot
        item["stem"] = str(qd.get("stem") or qd.get("scenario") or "")[:200]
    return item


def _display(item: dict) -> None:
    try:
        from IPython.display import display

        text = (f"{item['id']}: {item['points']:g}/{item['max_points']:g}"
                + (" ✔" if item.get("correct") else ""))
        display({MIME: item, "text/plain": text}, raw=True)
    except Exception:  # noqa: BLE001 - no display (plain python): the score is already returned
        pass
