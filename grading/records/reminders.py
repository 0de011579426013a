"""Reminders to laggards (issue 16): who was reminded when, so nobody gets more than one a day.

The sending itself (laggards query, notifiers, message texts) is
:mod:`grading.reports.notify`; this module is its SQL: contacts, who was already reminded on a
day, and recording a send (one ``reminders_sent`` row per person reached, one audit row per
send). The unique key (person, day) makes the once-a-day rule hold even for two administrators
pressing 发送提醒 at the same moment: the second insert of a person is skipped, not doubled.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from grading.records import audit
from grading.records.db import session_scope
from grading.records.models import Learner, ReminderSent


def contacts(url: str, usernames: list[str]) -> dict[str, tuple[int, str | None]]:
    """账号 -> (learner id, email or None)."""
    if not usernames:
        return {}
    with session_scope(url) as s:
        rows = s.execute(select(Learner.username, Learner.id, Learner.email)
                         .where(Learner.username.in_(sorted(set(usernames))))).all()
    return {u: (int(i), e or None) for u, i, e in rows}


def reminded_on(url: str, learner_ids: list[int], day: date) -> set[int]:
    """Which of ``learner_ids`` already got a reminder on ``day``."""
    if not learner_ids:
        return set()
    with session_scope(url) as s:
        return set(s.scalars(select(ReminderSent.learner_id).where(
            ReminderSent.day == day, ReminderSent.learner_id.in_(sorted(set(learner_ids))))))


def record_send(url: str, reached: dict[int, str], *, campaign_id: str, day: date, actor: str,
                client: str | None = None, detail: dict | None = None) -> int:
    """Record the people ``reached`` (learner id -> channels) on ``day`` and the send's audit
    row; returns how many were newly recorded (someone recorded meanwhile is skipped)."""
    new = 0
    with session_scope(url) as s:
        for learner_id, channels in sorted(reached.items()):
            try:
                with s.begin_nested():
                    s.add(ReminderSent(learner_id=learner_id, campaign_id=campaign_id[:64], day=day,
                                       channels=channels[:40], sent_by=(actor or "?")[:64]))
                new += 1
            except IntegrityError:
                pass
        audit.add(s, actor=actor, action="send_reminder", target=None,
                  detail={"campaign": campaign_id, "reached": new, **(detail or {})}, client=client)
    return new
