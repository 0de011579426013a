"""A learner hands in a malicious submission: nothing they wrote runs, the score comes from their
answers alone, keys stay hidden until they pass, and the grading service keeps grading.

Every submission is made the way 提交 makes it: from the learner's own kernel on the running
platform, nbgrader fetch, then the learner's edits (cells added to ``assessment.ipynb``, the
answers file, an essay typed with markup), then nbgrader submit under their roster name. The real
grading service grades it; the test reads the Result, the released feedback and the files.
Submissions of one learner are made one after another (each waits for its Result) so the
attempts are graded in order.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

COURSE = "pingtai_rumen"
CORRECT = {"q01": "A", "q02": "A", "q03": "B", "q04": "ABC", "q05": True, "q06": False,
           "q07": True, "q08": ["合格"], "q09": "BCDA", "q10": {"a": True, "b": "C"}}
Q01_EXPLANATION = "登录后进入“我的学习”页面"  # the 解析 of q01 in the course's hidden test
CHINESE = range(0x4E00, 0x9FFF)

SUBMIT = r"""
import json, shutil, nbformat
from widgets.exchange import exchange_app
from widgets.home import fetch_module, home_dir, module_dir
course, username = {course!r}, {username!r}
shutil.rmtree(module_dir(course), ignore_errors=True)   # a fresh copy of the module
d = fetch_module(course)
nb = nbformat.read(str(d / "assessment.ipynb"), as_version=4)
for src in {cells!r}:
    nb.cells.insert(1, nbformat.v4.new_code_cell(src))
for cell in nb.cells:  # a hand-edited notebook: the learner's text straight into the essay cell
    if cell.get("metadata", {{}}).get("nbgrader", {{}}).get("grade_id") in {essay_cells!r}:
        cell.source = {essay_cells!r}[cell.metadata["nbgrader"]["grade_id"]]
nbformat.write(nb, str(d / "assessment.ipynb"))
answers = {answers!r}
if answers is not None:
    (d / "assessment.answers.json").write_text(json.dumps(answers, ensure_ascii=False), encoding="utf-8")
sub = exchange_app("Submit", course=course, assignment="module", assignment_dir=home_dir(),
                   path_includes_course=True, student_id=username, quiet=True)
sub.start()
print(json.dumps({{"timestamp": str(sub.timestamp)}}))
"""


def submit(learner, course: str, *, answers: dict | None, cells: list[str] = (),
           essay_cells: dict | None = None):
    """One submission from the learner's kernel; returns the Result once it is graded."""
    return learner.submit(course, SUBMIT.format(course=course, username=learner.username,
                                                cells=list(cells), essay_cells=essay_cells or {},
                                                answers=answers))


def others_results(datadir) -> list[tuple]:
    from sqlalchemy import select

    from grading.records.db import session_scope
    from grading.records.models import Learner, Result

    with session_scope(datadir.records_db_url) as s:
        rows = s.execute(select(Result.id, Learner.username, Result.score, Result.outcome,
                                Result.message)
                         .join(Learner, Learner.id == Result.learner_id)
                         .where(Learner.username != "learner1").order_by(Result.id))
        return [tuple(r) for r in rows]


def released_feedback(datadir, course: str) -> str:
    """The assessment feedback pages released to learners of ``course`` (what fetch_feedback
    hands out; the lessons' pages are course text, not keys)."""
    pages = (p.read_text(encoding="utf-8", errors="replace")
             for p in sorted((datadir.exchange / course / "feedback").glob("*.html")))
    return "".join(t for t in pages if "<title>assessment</title>" in t)


def assert_clear(result, outcome: str = "ok") -> None:
    assert result.outcome == outcome, (result.outcome, result.message)
    assert result.message and any(ord(ch) in CHINESE for ch in result.message), result.message


@pytest.fixture(scope="module", autouse=True)
def attempts_enough(target):
    """learner1 hands in this course four times here; the default exam rules allow three
    counted attempts (tests/security/test_exam_rules.py tests that limit). The key is never
    shown here: under the default ``key: after`` a campaign another file loads on the shared
    platform (one that has ended) would reveal it, and this file tests the withholding itself."""
    from grading.records.exams import store_rules

    store_rules(target.datadir.records_db_url, COURSE, {"attempts": 20, "key": "never"})


@pytest.fixture(scope="module")
def marker() -> Path:
    p = Path("/tmp") / f"xuefa-pwned-{uuid.uuid4().hex}"
    yield p
    p.unlink(missing_ok=True)


def test_an_added_cell_that_reads_secrets_never_runs_and_the_paper_scores_from_answers(
        target, attacker, marker):
    secret = target.datadir.cookie_secret.read_bytes().hex()
    source_nb = target.datadir.course_root(COURSE) / "source" / "module" / "assessment.ipynb"
    source_before = source_nb.read_bytes()
    others_before = others_results(target.datadir)
    steal = (f"import os, json\n"
             f"data = {{'env': dict(os.environ), 'uid': os.getuid()}}\n"
             f"try:\n    data['secret'] = open({str(target.datadir.cookie_secret)!r}, 'rb').read().hex()\n"
             f"except Exception as e:\n    data['secret'] = repr(e)\n"
             f"open({str(marker)!r}, 'w').write(json.dumps(data))\n"
             f"print(data)")
    half = {k: CORRECT[k] for k in ("q01", "q02", "q03", "q04", "q05")}
    r = submit(attacker, COURSE, answers=half, cells=[steal])
    assert not marker.exists(), marker.read_text()[:2000]
    assert_clear(r)
    assert r.score == 50.0, (r.score, r.message)
    assert "课程以外的单元格" in r.message, r.message
    text = json.dumps(r.details, ensure_ascii=False) + r.message + released_feedback(target.datadir, COURSE)
    assert secret not in text and "JUPYTERHUB_API_TOKEN" not in text
    # nobody else's records, and not the course, changed
    assert others_results(target.datadir) == others_before
    assert source_nb.read_bytes() == source_before


def test_replacing_the_scoring_function_with_no_answers_scores_zero(target, attacker):
    cheat = ("import widgets.model as m, widgets.grade as g\n"
             "m.score = lambda q, a, key=None: m.Score(q.max_points, q.max_points, True)\n"
             "g.grade = lambda qid, *a, **k: 10.0\n")
    r = submit(attacker, COURSE, answers={}, cells=[cheat])
    assert_clear(r)
    assert (r.score, r.passed) == (0.0, False), (r.score, r.message)
    assert all(not d.get("correct") and d.get("points") == 0 for d in r.details), r.details


def test_a_failed_attempt_shows_right_or_wrong_but_no_keys_or_explanations(target, attacker):
    # the attempt above: every item wrong, so 0/100, and an empty paper must not reveal the key
    from grading.records.results import attempts

    from grading.records.exams import results_view

    r = attempts(target.datadir.records_db_url, "learner1", COURSE, "module")[-1]
    assert not r.passed and r.details
    # the Result keeps the full items; what leaves the server is cut to the reveal level
    view = results_view(target.datadir.records_db_url, "learner1", COURSE, "module")
    assert view["reveal"] == "wrong"
    for d in view["results"][-1]["details"]:
        assert "key" not in d and "explanation" not in d, d
        assert "correct" in d and "points" in d
    assert "正确答案和解析" in r.message, r.message
    # what the learner's own kernel gets from the records service over HTTP
    stdout, err = attacker.run(
        "import json\nfrom widgets.events import records_request\n"
        f"print(json.dumps(records_request('api/results', query={{'course': {COURSE!r}, "
        "'assignment': 'module'}), ensure_ascii=False))")
    assert stdout.strip(), err
    shown = stdout.strip().splitlines()[-1]
    assert Q01_EXPLANATION not in shown and '"key"' not in shown, shown[:2000]
    # and the released feedback page of that attempt
    feedback = released_feedback(target.datadir, COURSE)
    assert feedback and Q01_EXPLANATION not in feedback and "xf.grade" not in feedback
    assert "正确答案和解析" in feedback


def test_fork_bomb_memory_hog_and_output_flood_cells_never_run_and_grading_goes_on(target, attacker):
    bombs = ["import os\nwhile True:\n    os.fork()",
             "x = bytearray(20 * 1024 ** 3)",
             "while True:\n    print('刷屏' * 1000)"]
    t0 = time.monotonic()
    r = submit(attacker, COURSE, answers=CORRECT, cells=bombs)
    assert_clear(r)
    assert (r.score, r.passed) == (100.0, True), (r.score, r.message)
    assert time.monotonic() - t0 < 120  # graded promptly: nothing of the bombs ran
    # a passed attempt may see its keys and explanations
    assert any(d.get("key") is not None and d.get("explanation") for d in r.details), r.details


def test_essay_markup_reaches_formgrader_as_text_not_html(target, attacker):
    import nbformat

    payload = "<script>alert('xss')</script><img src=x onerror=alert(1)> 本人带头学法。"
    r = submit(attacker, "shufa", answers={"q01": "B", "q11": payload},
               essay_cells={"q11": "<script>document.title='pwned'</script>"})
    assert_clear(r, "needs_manual")
    nb = nbformat.read(str(target.datadir.course_root("shufa") / "autograded" / "learner1"
                           / "module" / "assessment.ipynb"), as_version=4)
    essay = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "q11")
    assert "<script" not in essay.source and "<img" not in essay.source, essay.source
    assert "&lt;script&gt;" in essay.source and "本人带头学法" in essay.source, essay.source
    assert "pwned" not in essay.source  # the hand-edited cell is not what is graded


def test_formgrader_will_not_autograde_as_root(target):
    trainer = target.login("trainer1")
    base = f"{target.url}/services/formgrader-shufa"
    deadline = time.monotonic() + 120
    while (page := trainer.get(f"{base}/formgrader", timeout=60)).status_code in (502, 503):
        assert time.monotonic() < deadline, page.status_code
        time.sleep(2)
    xsrf = next(c.value for c in trainer.cookies
                if c.name == "_xsrf" and c.path.startswith("/services/formgrader-shufa"))
    r = trainer.post(f"{base}/formgrader/api/submission/module/learner1/autograde",
                     headers={"X-XSRFToken": xsrf}, timeout=60)
    assert r.status_code == 403, (r.status_code, r.text[:300])
    assert "评分服务" in r.json()["error"]


def test_an_honest_submission_after_the_attacks_scores_as_expected(target, attacker):
    half = {k: CORRECT[k] for k in ("q01", "q02", "q03", "q04", "q05", "q06")}
    r = submit(attacker, COURSE, answers=half)
    assert_clear(r)
    assert r.score == 60.0 and r.passed, (r.score, r.message)
    assert "课程以外" not in r.message
