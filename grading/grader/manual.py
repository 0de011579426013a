"""Essays graded by trainers (阅卷 page or formgrader) reach the records DB and the learner's feedback.

Attempts with essay questions are recorded with outcome ``needs_manual`` and the automatic
part of the score. The grading service calls :func:`sync_manual` periodically: when the
gradebook shows a submission with no cell left to grade manually, the Result gets the final
score and pass verdict, and feedback is generated and released again so the learner sees the
trainer's marks and comments. The 阅卷 page (:mod:`grading.grader.essays`) calls
:func:`finalize` itself right after saving, with the trainer as the audited actor.
"""

from __future__ import annotations

import logging

from grading.host.datadir import DataDir
from grading.records.results import pending_manual, update_manual

log = logging.getLogger("grading.grader.manual")


def published_manual_courses(url: str) -> list[str]:
    """Published courses whose assessment has manually graded items (a formgrader each)."""
    from sqlalchemy import select

    from grading.records.db import session_scope
    from grading.records.models import Assessment

    with session_scope(url) as s:
        return sorted(set(s.scalars(select(Assessment.course_id).where(Assessment.manual.is_(True)))))


def sync_manual(datadir: DataDir) -> int:
    """Finalise every waiting essay result a trainer has finished; returns how many."""
    done = 0
    for result_id, course_id, assignment, username, submitted_at in pending_manual(datadir.records_db_url):
        if finalize(datadir, result_id, course_id, assignment, username, submitted_at) is not None:
            done += 1
    return done


def finalize(datadir: DataDir, result_id: int, course_id: str, assignment: str, username: str,
             submitted_at, *, actor: str | None = None, client: str | None = None,
             only_pending: bool = True) -> dict | None:
    """Copy the gradebook's finished manual grades (and the trainers' comments) of the attempt
    nbgrader holds into Result ``result_id`` and release feedback again. None when the
    gradebook is not finished with that attempt (or, ``only_pending``, it was final already).
    ``actor`` is the trainer who saved on the 阅卷 page; the periodic sync has none."""
    from nbgrader.api import Gradebook, MissingEntry

    from grading.grader.worker import Context, Settings, config_for, feedback, may_reveal
    from grading.records.db import session_scope
    from grading.records.results import attempts, is_passed, pass_mark

    try:
        with Gradebook(datadir.gradebook_url(course_id), course_id) as gb:
            sub = gb.find_submission(assignment, username)
            if sub.needs_manual_grade:
                return None
            # only the attempt nbgrader currently holds can be finalised from the gradebook
            if sub.timestamp is not None and abs((sub.timestamp.replace(tzinfo=None)
                                                  - submitted_at).total_seconds()) > 1:
                return None
            score, max_score = float(sub.score), float(sub.max_score)
            manual = {(g.name): (float(g.score), float(g.max_score))
                      for nb in sub.notebooks for g in nb.grades}
            comments = [c.manual_comment.strip() for nb in sub.notebooks for c in nb.comments
                        if c.manual_comment and c.manual_comment.strip()]
    except MissingEntry:
        return None
    row = next((r for r in attempts(datadir.records_db_url, username, course_id, assignment)
                if r.id == result_id), None)
    if row is None or (only_pending and row.outcome != "needs_manual"):
        return None
    with session_scope(datadir.records_db_url) as s:
        mark = pass_mark(s, course_id)
    # the feedback HTML shows keys only when the reveal rule allows it now
    reveal = may_reveal(datadir, course_id, assignment, username, is_passed(score, max_score, mark))
    # details are kept whole server-side; the records view cuts them to the reveal level
    details = []
    for d in row.details or []:
        d = dict(d)
        if d.get("id") in manual:
            d["points"], d["max_points"] = manual[d["id"]]
            d["correct"] = d["max_points"] > 0 and d["points"] >= d["max_points"]
        details.append(d)
    ctx = Context(datadir, course_id, assignment, username, submitted_at, Settings())
    ctx.config = config_for(ctx)
    ctx.reveal = reveal
    try:
        feedback(ctx)  # nbgrader's feedback HTML shows the trainer's comments too
    except Exception:
        log.exception("feedback for %s/%s %s failed", course_id, assignment, username)
    if not update_manual(datadir.records_db_url, result_id, score, max_score, details,
                         actor=actor, comment="\n".join(comments), client=client,
                         only_pending=only_pending):
        return None
    log.info("manual grades of %s/%s %s synced: %g/%g", course_id, assignment, username,
             score, max_score)
    return {"score": score, "max_score": max_score}
