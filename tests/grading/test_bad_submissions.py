"""Bad submissions never stop the grading service: each gets a recorded outcome and a message
the learner can read (zh-CN), and the next good submission is graded as usual."""

from __future__ import annotations

import time

import nbformat

from grading.records import results
from hub_config.tools.bench import Service, build_course, learner_copy, submit, write_answers

CHINESE = range(0x4E00, 0x9FFF)


def _nb(d):
    return nbformat.read(str(d / "assessment.ipynb"), as_version=4)


def _save(d, nb):
    nbformat.write(nb, str(d / "assessment.ipynb"))


def _grade_cell(nb, gid):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def bad_json(d):
    write_answers(d, "correct")
    (d / "assessment.ipynb").write_text('{"cells": [ 这不是JSON', encoding="utf-8")


def renamed(d):
    write_answers(d, "correct")
    (d / "assessment.ipynb").rename(d / "我的作业.ipynb")


def infinite_loop(d):
    write_answers(d, "correct")
    nb = _nb(d)
    nb.cells.insert(1, nbformat.v4.new_code_cell("while True:\n    pass"))
    _save(d, nb)


def huge_output(d):
    write_answers(d, "correct")
    nb = _nb(d)
    nb.cells.insert(1, nbformat.v4.new_code_cell("for i in range(20000):\n    print('刷屏', i)"))
    _save(d, nb)


def edited_cells(d):
    """No answers, but the learner rewrote a test cell to award points and deleted a read-only
    cell: nbgrader restores the test from the gradebook, so the score stays 0."""
    write_answers(d, "empty")
    nb = _nb(d)
    _grade_cell(nb, "q01").source = "2.0"
    nb.cells.remove(_grade_cell(nb, "q02_stem"))
    _save(d, nb)


def deleted_test_cell(d):
    write_answers(d, "correct")
    nb = _nb(d)
    nb.cells.remove(_grade_cell(nb, "q05"))
    _save(d, nb)


def oversized(d):
    write_answers(d, "correct")
    (d / "视频.bin").write_bytes(b"\0" * 300_000)


# cells a learner added never run (the notebook is rebuilt from the course): a loop or a flood
# of output is dropped with a note, and a deleted test cell comes back from the course
CASES = {
    "badjson": (bad_json, "bad_notebook", 0.0),
    "renamed": (renamed, "missing_notebook", 0.0),
    "looping": (infinite_loop, "ok", 10.0),
    "hugeout": (huge_output, "ok", 10.0),
    "edited": (edited_cells, "ok", 0.0),
    "deleted": (deleted_test_cell, "ok", 10.0),
    "toolarge": (oversized, "too_large", 0.0),
}


def test_each_bad_submission_gets_an_outcome_and_the_service_keeps_going(datadir, records_url):
    users = list(CASES) + ["goodone"]
    build_course(datadir, "bad", learners=users)
    args = ["--workers=2", "--GradingService.timeout=3", "--GradingService.max_submission_bytes=200000",
            "--GradingService.max_output_lines=100"]
    with Service(datadir, *args) as svc:
        for user, (make, _, _) in CASES.items():
            d = learner_copy(datadir, "bad", user)
            make(d)
            submit(datadir, "bad", user, d)
        t0 = time.monotonic()
        got = {}
        while time.monotonic() - t0 < 400 and len(got) < len(CASES):
            for user in CASES:
                r = results.effective_result(records_url, user, "bad", "module")
                if r is not None:
                    got[user] = r
            time.sleep(0.5)
        assert set(got) == set(CASES), f"missing results for {set(CASES) - set(got)}"
        for user, (_, outcome, score) in CASES.items():
            r = got[user]
            assert r.message and any(ord(ch) in CHINESE for ch in r.message), (user, r.message)
            if outcome is not None:
                assert (r.outcome, r.score) == (outcome, score), (user, r.outcome, r.score, r.message)
        assert "课程以外的单元格" in got["looping"].message
        assert "课程以外的单元格" in got["hugeout"].message
        assert "assessment.ipynb" in got["renamed"].message
        assert got["toolarge"].max_score == 10.0 and not got["toolarge"].passed

        # still alive and grading normally
        assert svc.proc.poll() is None
        d = learner_copy(datadir, "bad", "goodone")
        write_answers(d, "correct")
        submit(datadir, "bad", "goodone", d)
        t0 = time.monotonic()
        while (r := results.effective_result(records_url, "goodone", "bad", "module")) is None:
            assert time.monotonic() - t0 < 120
            time.sleep(0.3)
        assert (r.outcome, r.score, r.passed) == ("ok", 10.0, True)
