"""Result rows of graded attempts, and which attempt counts (``Assessment.policy``).

Every graded submission is one :class:`Result` (attempt 1, 2, ...). Whether the *best* or the
*latest* attempt is the learner's standing score is a per-assessment setting, applied when
reading (:func:`effective_result`), so changing the policy never rewrites history.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grading.records import audit
from grading.records.db import session_scope
from grading.records.models import Assessment, Course, GradingJob, ItemResult, Learner, Result, utcnow

OUTCOME_MESSAGES = {
    "bad_notebook": "提交的笔记本文件已损坏（不是有效的 JSON），无法评分。请重新打开作业并再次提交。",
    "missing_notebook": "提交中缺少需要评分的笔记本 {names}（可能被删除或改名）。请使用原文件名重新提交。",
    "timeout": "部分单元格运行超时（超过 {timeout} 秒），超时的题目按 0 分计。",
    "too_large": "提交的文件过大（{size}，上限 {limit}），未评分。请删除多余内容后重新提交。",
    "error": "评分时出现系统错误，已通知管理员。请稍后查看或重新提交。",
    "unknown_learner": "未在学员名册中找到账号 {username}，无法记录成绩。",
}


@dataclass
class Graded:
    """What the pipeline found out about one submission (plain data, written by :func:`add_result`)."""

    score: float = 0.0
    max_score: float = 0.0
    outcome: str = "ok"
    message: str = ""
    details: list = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # extra learner-facing remarks (zh-CN)


def fmt_points(x: float) -> str:
    return f"{x:g}"


def pass_mark(s: Session, course_id: str) -> float:
    c = s.get(Course, course_id)
    return float(c.pass_mark) if c is not None and c.pass_mark is not None else 60.0


def assessment(s: Session, course_id: str, assignment: str) -> Assessment | None:
    return s.scalar(select(Assessment).filter_by(course_id=course_id, assignment=assignment))


def is_passed(score: float, max_score: float, mark_percent: float) -> bool:
    return max_score > 0 and score * 100.0 >= mark_percent * max_score - 1e-9


def ok_message(g: Graded, passed: bool, mark: float) -> str:
    if g.outcome == "needs_manual":
        msg = (f"客观题已评分：{fmt_points(g.score)}/{fmt_points(g.max_score)} 分；"
               "简答题待讲师评阅，评阅后成绩和反馈会自动更新。")
    else:
        verdict = "已合格" if passed else f"未合格（合格线 {fmt_points(mark)}%），可重新学习后再次提交"
        msg = f"已评分：{fmt_points(g.score)}/{fmt_points(g.max_score)} 分，{verdict}。"
    return " ".join([msg, *g.notes]) if g.notes else msg


def add_result(s: Session, job: GradingJob, g: Graded) -> bool:
    """Insert the Result (+ ItemResults) of ``job`` in session ``s``; returns True when the
    outcome is a failure of the service rather than a graded attempt."""
    learner = s.scalar(select(Learner).filter_by(username=job.username))
    if learner is None:
        job.error = OUTCOME_MESSAGES["unknown_learner"].format(username=job.username)
        return True
    a = assessment(s, job.course_id, job.assignment)
    mark = pass_mark(s, job.course_id)
    attempt = (s.scalar(select(func.max(Result.attempt)).filter_by(
        learner_id=learner.id, course_id=job.course_id, assignment=job.assignment)) or 0) + 1
    late = bool(a is not None and a.due is not None and job.submitted_at > a.due)
    passed = g.outcome in ("ok", "timeout") and is_passed(g.score, g.max_score, mark)
    message = g.message or ok_message(g, passed, mark)
    if late:
        message += " （本次提交晚于截止时间。）"
    r = Result(learner_id=learner.id, course_id=job.course_id, assignment=job.assignment,
               attempt=attempt, job_id=job.id, score=g.score, max_score=g.max_score,
               passed=passed, outcome=g.outcome, message=message, details=g.details,
               late=late, submitted_at=job.submitted_at, graded_at=utcnow())
    for d in g.details:
        r.items.append(ItemResult(
            course_id=job.course_id, question_id=str(d.get("id"))[:64],
            legal_basis=(d.get("legal_basis") or None) and str(d["legal_basis"])[:255],
            points=float(d.get("points") or 0), max_points=float(d.get("max_points") or 0),
            correct=bool(d.get("correct")), answer=_answer(d.get("answer")),
            slot=(str(d["slot"])[:16] if d.get("slot") else None)))
    s.add(r)
    return False


def _answer(v):
    """What the learner chose, kept for distractor analysis when it is small JSON data."""
    import json

    try:
        return v if len(json.dumps(v, ensure_ascii=False)) <= 2000 else None
    except (TypeError, ValueError):
        return None


def update_manual(url: str, result_id: int, score: float, max_score: float,
                  details: list | None = None, *, actor: str | None = None, comment: str = "",
                  client: str | None = None, only_pending: bool = False) -> bool:
    """A trainer finished manual grading: the attempt's score becomes final. ``comment`` (the
    trainers' 评语) is appended to the learner-facing message; ``only_pending`` leaves an
    attempt alone that is final already (the periodic sync racing the 阅卷 page). True when
    the row was updated."""
    with session_scope(url) as s:
        r = s.get(Result, result_id)
        if r is None or (only_pending and r.outcome != "needs_manual"):
            return False
        mark = pass_mark(s, r.course_id)
        before = r.score
        r.score, r.max_score = score, max_score
        r.passed = is_passed(score, max_score, mark)
        r.outcome = "ok"
        # a grade change is audited with the result; nbgrader's gradebook does not say which
        # trainer graded in formgrader, so that actor is the course's formgrader; the 阅卷
        # page names the trainer
        learner = s.get(Learner, r.learner_id)
        audit.add(s, actor=actor or f"formgrader-{r.course_id}", action="grade_manual",
                  target=learner.username if learner else None,
                  detail={"course": r.course_id, "attempt": r.attempt, "score_from": before,
                          "score_to": score, "max_score": max_score}, client=client)
        g = Graded(score=score, max_score=max_score)
        r.message = ok_message(g, r.passed, mark) + " （简答题已由讲师评阅。）"
        if comment:
            r.message += f" 讲师评语：{comment[:4000]}"
        if details is not None:
            r.details = details
            by_id = {i.question_id: i for i in r.items}
            for d in details:
                it = by_id.get(str(d.get("id")))
                if it is not None:
                    it.points = float(d.get("points") or 0)
                    it.correct = bool(d.get("correct"))
        r.graded_at = utcnow()
        return True


def manual_courses(url: str) -> list[tuple[str, str]]:
    """(course id, title) of the published courses whose assessment has essays (阅卷)."""
    with session_scope(url) as s:
        rows = s.execute(select(Course.id, Course.title)
                         .join(Assessment, Assessment.course_id == Course.id)
                         .where(Assessment.manual.is_(True)).distinct().order_by(Course.id))
        return [(cid, title or cid) for cid, title in rows]


def course_trainers(url: str, course_id: str) -> list[str]:
    """The ``trainers`` of a published course as copied into the records DB at publish."""
    with session_scope(url) as s:
        c = s.get(Course, course_id)
        names = ((c.meta or {}).get("trainers") or []) if c is not None else []
        return [n for n in names if isinstance(n, str)]


def pending_manual(url: str) -> list[tuple[int, str, str, str, datetime]]:
    """(result id, course, assignment, username, submitted_at) still waiting for a trainer."""
    with session_scope(url) as s:
        rows = s.execute(select(Result.id, Result.course_id, Result.assignment,
                                Learner.username, Result.submitted_at)
                         .join(Learner, Learner.id == Result.learner_id)
                         .where(Result.outcome == "needs_manual"))
        return [tuple(r) for r in rows]


def attempts(url: str, username: str, course_id: str, assignment: str) -> list[Result]:
    with session_scope(url) as s:
        return list(s.scalars(select(Result).join(Learner, Learner.id == Result.learner_id)
                              .where(Learner.username == username, Result.course_id == course_id,
                                     Result.assignment == assignment)
                              .order_by(Result.attempt)))


def effective_result(url: str, username: str, course_id: str, assignment: str) -> Result | None:
    """The attempt that counts: highest score (ties: latest) or the latest, per assessment.
    Submissions refused by the exam rules are not attempts (unless there is nothing else)."""
    everything = attempts(url, username, course_id, assignment)
    rows = [r for r in everything if r.outcome != "refused"] or everything
    if not rows:
        return None
    with session_scope(url) as s:
        a = assessment(s, course_id, assignment)
        policy = (a.policy if a is not None else "best") or "best"
    if policy == "latest":
        return rows[-1]
    return max(rows, key=lambda r: (r.score, r.attempt))


def result_for_job(url: str, job_id: int) -> Result | None:
    with session_scope(url) as s:
        return s.scalar(select(Result).filter_by(job_id=job_id))
