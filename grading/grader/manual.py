"""Essays graded by trainers in formgrader reach the records DB and the learner's feedback.

Attempts with essay questions are recorded with outcome ``needs_manual`` and the automatic
part of the score. The grading service calls :func:`sync_manual` periodically: when the
gradebook shows a submission with no cell left to grade manually, the Result gets the final
score and pass verdict, and feedback is generated and released again so the learner sees the
trainer's marks and comments.
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
    from nbgrader.api import Gradebook, MissingEntry

    from grading.grader.worker import Context, Settings, config_for, feedback, may_reveal
    from grading.records.db import session_scope
    from grading.records.results import is_passed, pass_mark

    done = 0
    for result_id, course_id, assignment, username, submitted_at in pending_manual(datadir.records_db_url):
        try:
            with Gradebook(datadir.gradebook_url(course_id), course_id) as gb:
                sub = gb.find_submission(assignment, username)
                if sub.needs_manual_grade:
                    continue
                # only the attempt nbgrader currently holds can be finalised from the gradebook
                if sub.timestamp is not None and abs((sub.timestamp.replace(tzinfo=None)
                                                      - submitted_at).total_seconds()) > 1:
                    continue
                score, max_score = float(sub.score), float(sub.max_score)
                manual = {(g.name): (float(g.score), float(g.max_score))
                          for nb in sub.notebooks for g in nb.grades}
        except MissingEntry:
            continue
        from grading.records.results import attempts

        row = next((r for r in attempts(datadir.records_db_url, username, course_id, assignment)
                    if r.id == result_id), None)
        with session_scope(datadir.records_db_url) as s:
            mark = pass_mark(s, course_id)
        # the feedback HTML shows keys only when the reveal rule allows it now
        reveal = may_reveal(datadir, course_id, assignment, username,
                            is_passed(score, max_score, mark))
        details = None
        if row is not None:
            # details are kept whole server-side; the records view cuts them to the reveal level
            details = []
            source = row.details or []
            for d in source:
                d = dict(d)
                if d.get("id") in manual:
                    d["points"], d["max_points"] = manual[d["id"]]
                    d["correct"] = d["max_points"] > 0 and d["points"] >= d["max_points"]
                details.append(d)
        ctx = Context(datadir, course_id, assignment, username, submitted_at, Settings())
        ctx.config = config_for(ctx)
        ctx.reveal = reveal
        try:
            feedback(ctx)
        except Exception:
            log.exception("feedback for %s/%s %s failed", course_id, assignment, username)
        update_manual(datadir.records_db_url, result_id, score, max_score, details)
        done += 1
        log.info("manual grades of %s/%s %s synced: %g/%g", course_id, assignment, username,
                 score, max_score)
    return done
