"""Drawn exam papers: one per (learner, course, assignment, attempt), stored as a snapshot.

The draw itself (bank + blueprint + seed) is the caller's (``grading.content.bank.draw``); this
module only keeps the result, so a reload returns the same paper, a republished bank never
changes a paper already handed out, and the grader finds the keys of exactly the paper the
learner answered by its token.
"""

from __future__ import annotations

import secrets
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grading.records.models import Learner, Paper


def _find(s: Session, learner_id: int, course_id: str, assignment: str, attempt: int) -> Paper | None:
    return s.scalar(select(Paper).filter_by(learner_id=learner_id, course_id=course_id,
                                            assignment=assignment, attempt=attempt))


def get_or_draw(s: Session, learner: Learner | str, course_id: str, assignment: str, attempt: int,
                draw: Callable[[], list[dict]],
                bank_digest: str | Callable[[], str] = "") -> Paper:
    """The stored paper of this attempt, or a new one from ``draw()``.

    Two requests at once (two tabs, a double click) may both draw: the unique constraint lets
    one insert win and the other reads the winner's paper, so both see the same questions.
    Commits ``s``'s work so far when it inserts. ``bank_digest``: text, or a callable asked
    after ``draw()`` (the bank is read only when a paper is really drawn)."""
    if isinstance(learner, str):
        row = s.scalar(select(Learner).filter_by(username=learner))
        if row is None:
            raise KeyError(learner)
        learner = row
    found = _find(s, learner.id, course_id, assignment, attempt)
    if found is not None:
        return found
    questions = draw()
    digest = bank_digest() if callable(bank_digest) else bank_digest
    paper = Paper(learner_id=learner.id, course_id=course_id, assignment=assignment, attempt=attempt,
                  token=secrets.token_urlsafe(16), questions=questions, bank_digest=digest or "")
    s.add(paper)
    try:
        s.commit()
    except IntegrityError:
        s.rollback()
        found = _find(s, learner.id, course_id, assignment, attempt)
        if found is None:
            raise
        return found
    return paper


def by_token(s: Session, token: str, username: str | None = None,
             course_id: str | None = None) -> Paper | None:
    """The paper with this token; None when unknown or (if given) not this learner's or
    not this course's: a foreign token is as good as none."""
    if not isinstance(token, str) or not token or len(token) > 64:
        return None
    paper = s.scalar(select(Paper).filter_by(token=token))
    if paper is None:
        return None
    if course_id is not None and paper.course_id != course_id:
        return None
    if username is not None:
        owner = s.get(Learner, paper.learner_id)
        if owner is None or owner.username != username:
            return None
    return paper
