"""Learning events and a learner's own results: the records service's queries.

Events are evidence of learning (lesson opened, section read, practice answered) and never
durations (国办函〔2026〕12号). ``record_event`` is idempotent by (learner, client_id) so a
widget may re-post after a crash or timeout.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from grading.records.db import session_scope
from grading.records.models import Learner, LearningEvent, Result

KINDS = ("lesson_opened", "section_read", "practice_answered")
_TEXT_LIMITS = {"client_id": 64, "kind": 32, "course_id": 64, "lesson": 128, "item": 128}


class BadEvent(ValueError):
    """The posted event is malformed (message in zh-CN for the response body)."""


@dataclass
class Recorded:
    id: int
    created: bool  # False: this client_id was already recorded


def validate_event(event: dict) -> dict:
    if not isinstance(event, dict):
        raise BadEvent("事件应为 JSON 对象")
    out = {}
    for field, limit in _TEXT_LIMITS.items():
        v = event.get(field)
        if v is not None and not isinstance(v, str):
            raise BadEvent(f"字段 {field} 应为字符串")
        if v is not None and len(v) > limit:
            raise BadEvent(f"字段 {field} 过长（最多 {limit} 个字符）")
        out[field] = v
    if not out["client_id"]:
        raise BadEvent("缺少 client_id")
    if out["kind"] not in KINDS:
        raise BadEvent(f"未知的事件类型 {out['kind']!r}")
    correct = event.get("correct")
    if correct is not None and not isinstance(correct, bool):
        raise BadEvent("字段 correct 应为 true/false")
    payload = event.get("payload") or {}
    if not isinstance(payload, dict):
        raise BadEvent("字段 payload 应为对象")
    # no time-on-page evidence is accepted, whatever a client sends
    payload = {k: v for k, v in payload.items()
               if not any(w in str(k).lower() for w in ("duration", "seconds", "time_on", "dwell"))}
    out["correct"] = correct
    out["payload"] = payload
    return out


def record_event(url: str, username: str, event: dict) -> Recorded | None:
    """Store ``event`` for ``username`` (who comes from the hub, never the body).
    Returns None when no such person is on the roster; raises BadEvent for bad input."""
    ev = validate_event(event)
    for _ in range(2):  # a concurrent duplicate loses the unique race once, then is found
        try:
            with session_scope(url) as s:
                learner_id = s.scalar(select(Learner.id).where(Learner.username == username))
                if learner_id is None:
                    return None
                existing = s.scalar(select(LearningEvent.id).where(
                    LearningEvent.learner_id == learner_id,
                    LearningEvent.client_id == ev["client_id"]))
                if existing is not None:
                    return Recorded(existing, False)
                row = LearningEvent(learner_id=learner_id, **ev)
                s.add(row)
                s.flush()
                return Recorded(row.id, True)
        except IntegrityError:
            continue
    raise BadEvent("重复的 client_id")


def results_for(url: str, username: str, course: str, assignment: str) -> list[dict]:
    """``username``'s graded attempts of one assessment, oldest first (learner-facing)."""
    with session_scope(url) as s:
        rows = s.scalars(
            select(Result).join(Learner, Learner.id == Result.learner_id).where(
                Learner.username == username, Result.course_id == course,
                Result.assignment == assignment).order_by(Result.attempt)).all()
        return [{
            "attempt": r.attempt,
            "score": r.score,
            "max_score": r.max_score,
            "passed": r.passed,
            "outcome": r.outcome,
            "message": r.message,
            "details": r.details or [],
            "late": r.late,
            "submitted_at": r.submitted_at.isoformat() if r.submitted_at else None,
            "graded_at": r.graded_at.isoformat() if r.graded_at else None,
        } for r in rows]
