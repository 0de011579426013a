"""The grading service end to end: a learner submits through nbgrader's exchange and gets a
score and released feedback with no instructor action (real nbgrader, real files, real kernels)."""

from __future__ import annotations

import time

import pytest

from hub_config.tools import bench

from grading.records import results
from hub_config.tools.bench import Service, build_course, learner_copy, submit, write_answers
from grading.records.db import session_scope
from grading.records.models import Result
from hub_config.tools.platform import wait_for


def _fetch_feedback(datadir, course, user):
    """What the learner's 我的学习 / nbgrader fetch_feedback does."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.fetch_feedback import ExchangeFetchFeedback
    from traitlets.config import Config

    c = Config()
    c.Exchange.root = str(datadir.exchange)
    c.Exchange.path_includes_course = True
    c.Exchange.assignment_dir = str(datadir.home(user))
    c.Exchange.cache = str(datadir.home(user) / ".nbgrader_cache")
    c.CourseDirectory.course_id = course
    c.CourseDirectory.assignment_id = "module"
    c.CourseDirectory.student_id = user
    ExchangeFetchFeedback(coursedir=CourseDirectory(config=c), authenticator=Authenticator(config=c),
                          config=c).start()
    return sorted((datadir.home(user) / course / "module" / "feedback").rglob("assessment.html"))


def _write_essay(path, text):
    """What the 提交 widget does with an essay answer: into the manually graded cell."""
    import nbformat

    nb = nbformat.read(str(path), as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "essay1":
            cell.source = text
    nbformat.write(nb, str(path))


@pytest.fixture
def course(datadir, records_url):
    build_course(datadir, "fazhi", learners=["ganbu1", "zhengfa1"])
    build_course(datadir, "shufa", learners=["ganbu1"], essay=True)
    return "fazhi"


def test_submission_is_scored_and_feedback_released_without_instructor(datadir, course):
    with Service(datadir, "--workers=2", "--GradingService.manual_sync_interval=1"):
        d = learner_copy(datadir, course, "ganbu1")
        write_answers(d, "partial")
        submit(datadir, course, "ganbu1", d)
        d2 = learner_copy(datadir, course, "zhengfa1")
        write_answers(d2, "correct")
        submit(datadir, course, "zhengfa1", d2)

        wait_for(lambda: bench.results_count(datadir.records_db_url, course) >= 2)
        scores = bench.service_scores(datadir.records_db_url, course)
        assert scores == {"ganbu1": 6.0, "zhengfa1": 10.0}
        feedback = _fetch_feedback(datadir, course, "ganbu1")
        assert feedback, "no released feedback"
        assert "assessment" in feedback[0].read_text(encoding="utf-8")

        # a second attempt: attempt 2, and the best attempt counts
        time.sleep(1.1)  # nbgrader timestamps have second resolution in inbound names
        write_answers(d, "correct")
        submit(datadir, course, "ganbu1", d)
        wait_for(lambda: len(results.attempts(datadir.records_db_url, "ganbu1", course, "module")) == 2)
        best = results.effective_result(datadir.records_db_url, "ganbu1", course, "module")
        assert (best.attempt, best.score, best.passed) == (2, 10.0, True)

        with session_scope(datadir.records_db_url) as s:
            r = s.query(Result).filter_by(course_id=course, attempt=1).join(Result.items).first()
            first = s.query(Result).filter_by(course_id=course).order_by(Result.id).first()
            assert first.max_score == 10.0 and first.outcome == "ok"
            assert len(first.items) == 5 and first.items[0].legal_basis.startswith("《")
            assert {d["id"] for d in first.details} == {"q01", "q02", "q03", "q04", "q05"}
            assert first.message and "分" in first.message and first.late is False
        assert r is not None

        # an essay: auto part scored now, the trainer's mark reaches the record later
        d3 = learner_copy(datadir, "shufa", "ganbu1")
        write_answers(d3, "correct")
        _write_essay(d3 / "assessment.ipynb", "本单位坚持谁执法谁普法，推行行政执法三项制度。")
        submit(datadir, "shufa", "ganbu1", d3)
        row = wait_for(lambda: results.effective_result(datadir.records_db_url, "ganbu1", "shufa", "module"))
        assert row.outcome == "needs_manual" and row.score == 10.0 and row.max_score == 20.0
        from nbgrader.api import Gradebook

        with Gradebook(datadir.gradebook_url("shufa"), "shufa") as gb:
            g = gb.find_grade("essay1", "assessment", "module", "ganbu1")
            g.manual_score = 7  # what formgrader's grade API does when the trainer saves
            g.needs_manual_grade = False
            gb.db.commit()
        row = wait_for(lambda: (r := results.effective_result(
            datadir.records_db_url, "ganbu1", "shufa", "module")).outcome == "ok" and r)
        assert (row.score, row.max_score, row.passed) == (17.0, 20.0, True)
        assert "讲师" in row.message
