"""``xuefa grade bench``: the grading service against stock ``nbgrader autograde``.

A synthetic course (one assessment notebook of plain nbgrader grade cells whose hidden tests
read ``assessment.answers.json``, like the widgets' ``xf.grade`` does) gets N learner
submissions through nbgrader's exchange: a mix of correct, partial, empty and broken ones.
The same inbound files are graded in separate data dirs:

* batch (the baseline): what an instructor does with the stock CLI after a deadline:
  ``nbgrader collect``, ONE ``nbgrader autograde module`` over every submission, then
  ``nbgrader generate_feedback`` and ``nbgrader release_feedback``;
* per process (the "grading on submit with stock tools" anchor, skipped with
  ``per_process=False``): the same, but ``nbgrader autograde module --student <u>`` once per
  submission, a process and a kernel start each, as a naive grade-on-submit would do;
* service: ``python -m grading.grader.service`` draining the burst until every Result row exists
  (start-up included), then single submissions on the idle service, timed from submit to
  released feedback.

Scores of the service are compared with the batch run's (and the per-process run's): every
mismatch is named, and there must be none.

Drawn papers (issue 14, skipped with ``papers=0``): a shipped bank course (:data:`PAPER_COURSE`,
every question type including a case) is published in the batch and service data dirs as
``xuefa course publish`` does; each learner draws a paper through the records service's own
draw (``hub_config.records_service.draw_paper``) and submits answers to it (all right, every
other question right, or none) with the ``__paper__`` token, as ``xf.Paper`` writes them. The
expected score of each submission is computed here from that paper's keys and points alone; the
service (grading from the paper snapshot in the records DB) and ONE batch ``nbgrader autograde``
of the same submissions, each given its paper file as the grading service rebuilds it, must both
agree with it.

The builders here are also what the grading tests use to make courses and submissions.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from grading.content.courses import ASSIGNMENT
from grading.host.datadir import DataDir

KINDS = ["correct", "partial", "empty", "broken"]
KEYS = "BADCABDCBA"

GRADE_CELL = '''### BEGIN HIDDEN TESTS
import json as _json, os as _os
try:
    with open("assessment.answers.json", encoding="utf-8") as _f:
        _ans = _json.load(_f)
except Exception:
    _ans = {{}}
_given = _ans.get("{qid}") if isinstance(_ans, dict) else None
_pts = {points} if _given == "{key}" else 0.0
from IPython.display import display as _display
_display({{"application/vnd.xuefa.item+json": {{"id": "{qid}", "type": "single",
          "correct": _pts > 0, "points": _pts, "max_points": {points},
          "legal_basis": "《中华人民共和国行政处罚法》第{article}条", "explanation": "",
          "answer": _given, "key": "{key}"}}, "text/plain": "{qid}: %g" % _pts}}, raw=True)
_pts
### END HIDDEN TESTS'''


def _cell(cell_type: str, source: str, nbgrader: dict | None = None):
    import nbformat

    c = (nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell)(source)
    if nbgrader:
        c.metadata["nbgrader"] = {"schema_version": 3, **nbgrader}
    return c


def assessment_notebook(n_questions: int = 5, points: float = 2.0, essay: bool = False):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells.append(_cell("markdown", "# 结业测试\n\n请在每道题下作答，完成后点击 提交。",
                          {"grade": False, "solution": False, "locked": True, "grade_id": "intro"}))
    for i in range(n_questions):
        qid = f"q{i + 1:02d}"
        nb.cells.append(_cell("markdown", f"**{i + 1}.** 单选题（{points:g} 分）",
                              {"grade": False, "solution": False, "locked": True, "grade_id": f"{qid}_stem"}))
        nb.cells.append(_cell("code", GRADE_CELL.format(qid=qid, key=KEYS[i % len(KEYS)],
                                                        points=float(points), article=i + 3),
                              {"grade": True, "solution": False, "locked": True, "grade_id": qid,
                               "points": points}))
    if essay:
        nb.cells.append(_cell("markdown", "请简述本单位依法行政的做法。",
                              {"grade": True, "solution": True, "locked": False,
                               "grade_id": "essay1", "points": 10, "task": False}))
    return nb


def build_course(datadir: DataDir, course_id: str = "bench", *, n_questions: int = 5,
                 learners: list[str] = (), essay: bool = False, pass_mark: float = 60,
                 policy: str = "best") -> Path:
    """Publish a synthetic course: records rows, nbgrader source, generate + release."""
    import nbformat
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory

    from grading.records import migrate
    from grading.records.db import session_scope
    from grading.records.models import Assessment, Audience, Course, Learner, Role, Unit
    from grading.exchange.nbconfig import venv_on_path, course_config, ensure_course

    venv_on_path()
    datadir.ensure()
    url = datadir.records_db_url
    migrate.upgrade(url)
    points = 2.0
    with session_scope(url) as s:
        unit = s.query(Unit).filter_by(path="测试市").one_or_none()
        if unit is None:
            unit = Unit(path="测试市", name="测试市", level=0)
            s.add(unit)
            s.flush()
        if s.get(Course, course_id) is None:
            s.add(Course(id=course_id, title="评分基准课程", hours=1, pass_mark=pass_mark,
                         audiences=[]))
            s.flush()
            s.add(Assessment(course_id=course_id, assignment=ASSIGNMENT, title="结业测试",
                             max_score=n_questions * points + (10 if essay else 0), manual=essay,
                             policy=policy))
        known = {u for (u,) in s.query(Learner.username)}
        for u in learners:
            if u not in known:
                s.add(Learner(username=u, name=f"学员{u}", unit_id=unit.id,
                              audience=Audience.cadre, role=Role.learner))
    root = ensure_course(datadir, course_id)
    src = root / "source" / ASSIGNMENT
    src.mkdir(parents=True, exist_ok=True)
    nbformat.write(assessment_notebook(n_questions, points, essay), str(src / "assessment.ipynb"))
    config = course_config(datadir, course_id)
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    for step in (lambda: api.generate_assignment(ASSIGNMENT, force=True, create=True),
                 lambda: api.release_assignment(ASSIGNMENT)):
        res = step()
        if not res.get("success"):
            raise RuntimeError(res.get("error") or res.get("log"))
    return root


def answers_for(kind: str, n_questions: int = 5, rng: random.Random | None = None) -> dict | str | None:
    rng = rng or random.Random(0)
    keys = [KEYS[i % len(KEYS)] for i in range(n_questions)]
    if kind == "correct":
        return {f"q{i + 1:02d}": k for i, k in enumerate(keys)}
    if kind == "partial":
        return {f"q{i + 1:02d}": (k if i % 2 == 0 else "A" if k != "A" else "B")
                for i, k in enumerate(keys)}
    if kind == "empty":
        return None
    return "{not json"  # broken


def expected_score(kind: str, n_questions: int = 5, points: float = 2.0) -> float:
    if kind == "correct":
        return n_questions * points
    if kind == "partial":
        return ((n_questions + 1) // 2) * points
    return 0.0


def learner_copy(datadir: DataDir, course_id: str, username: str) -> Path:
    """What nbgrader fetch gives the learner: ``<home>/<course>/<assignment>/``."""
    dest = datadir.home(username) / course_id / ASSIGNMENT
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(datadir.exchange / course_id / "outbound" / ASSIGNMENT, dest)
    return dest


def write_answers(nb_dir: Path, kind: str, n_questions: int = 5) -> None:
    import nbformat

    ans = answers_for(kind, n_questions)
    f = nb_dir / "assessment.answers.json"
    if ans is None:
        f.unlink(missing_ok=True)
    elif isinstance(ans, str):
        f.write_text(ans, encoding="utf-8")
    else:
        f.write_text(json.dumps(ans, ensure_ascii=False), encoding="utf-8")
    if kind == "broken":  # a learner cell that raises: nbgrader must still score the rest
        nb = nbformat.read(str(nb_dir / "assessment.ipynb"), as_version=4)
        nb.cells.insert(1, nbformat.v4.new_code_cell("raise RuntimeError('学员添加的错误代码')"))
        nbformat.write(nb, str(nb_dir / "assessment.ipynb"))


def submit(datadir: DataDir, course_id: str, username: str, nb_dir: Path | None = None) -> str:
    """nbgrader submit, in-process, as the learner's 提交 does; returns the timestamp."""
    from nbgrader.auth import Authenticator
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.submit import ExchangeSubmit
    from traitlets.config import Config

    nb_dir = nb_dir or datadir.home(username) / course_id / ASSIGNMENT
    c = Config()
    c.Exchange.root = str(datadir.exchange)
    c.Exchange.path_includes_course = True
    c.Exchange.assignment_dir = str(nb_dir.parent.parent)
    c.Exchange.cache = str(datadir.home(username) / ".nbgrader_cache")
    c.CourseDirectory.course_id = course_id
    c.CourseDirectory.assignment_id = ASSIGNMENT
    c.CourseDirectory.student_id = username
    coursedir = CourseDirectory(config=c)
    sub = ExchangeSubmit(coursedir=coursedir, authenticator=Authenticator(config=c), config=c)
    sub.start()
    return sub.timestamp


# --- running the two contenders -----------------------------------------------------------------

class Service:
    """``python -m grading.grader.service`` as a child process (what the hub runs)."""

    def __init__(self, datadir: DataDir, *args: str, log: Path | None = None):
        self.datadir, self.args = datadir, list(args)
        self.log = log or datadir.logs / "grading-service.log"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Service":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, XUEFA_DATA_DIR=str(self.datadir.root))
        repo = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join([repo, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        self._fh = open(self.log, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "grading.grader.service", *self.args],
                                     env=env, stdout=self._fh, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        return self

    def kill(self, sig: int = 9) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            self.proc.wait(30)

    def stop(self) -> None:
        import signal

        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()
        if self.proc:
            try:  # workers are in the service's session: leave nothing behind
                os.killpg(self.proc.pid, 9)
            except ProcessLookupError:
                pass
        getattr(self, "_fh", None) and self._fh.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def results_count(url: str, course_id: str) -> int:
    from sqlalchemy import func, select

    from grading.records.db import session_scope
    from grading.records.models import Result

    with session_scope(url) as s:
        return s.scalar(select(func.count()).select_from(Result).where(Result.course_id == course_id))


def wait_results(url: str, course_id: str, n: int, timeout: float) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if results_count(url, course_id) >= n:
            return time.monotonic() - t0
        time.sleep(0.05)
    raise TimeoutError(f"only {results_count(url, course_id)}/{n} results after {timeout}s")


def _nbgrader(root: Path, *args: str) -> None:
    exe = str(Path(sys.executable).parent / "nbgrader")
    subprocess.run([exe, *args], cwd=root, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL,
                   env=dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"))


def _gradebook_scores(datadir: DataDir, course_id: str, users: list[str]) -> dict[str, float]:
    from nbgrader.api import Gradebook

    with Gradebook(datadir.gradebook_url(course_id), course_id) as gb:
        return {u: float(gb.find_submission(ASSIGNMENT, u).score) for u in users}


def run_batch(datadir: DataDir, course_id: str, users: list[str]) -> tuple[float, dict[str, float]]:
    """The stock CLI, one batch: collect, ONE autograde of every submission, feedback.
    Returns (seconds, {user: score})."""
    root = datadir.course_root(course_id)
    t0 = time.monotonic()
    _nbgrader(root, "collect", ASSIGNMENT)
    _nbgrader(root, "autograde", ASSIGNMENT)
    _nbgrader(root, "generate_feedback", ASSIGNMENT)
    _nbgrader(root, "release_feedback", ASSIGNMENT)
    return time.monotonic() - t0, _gradebook_scores(datadir, course_id, users)


def run_plain(datadir: DataDir, course_id: str, users: list[str]) -> tuple[float, dict[str, float]]:
    """The stock CLI, one autograde process per submission (grading on submit with stock
    tools): returns (seconds, {user: score})."""
    root = datadir.course_root(course_id)
    t0 = time.monotonic()
    _nbgrader(root, "collect", ASSIGNMENT)
    for u in users:
        _nbgrader(root, "autograde", ASSIGNMENT, "--student", u)
    _nbgrader(root, "generate_feedback", ASSIGNMENT)
    _nbgrader(root, "release_feedback", ASSIGNMENT)
    return time.monotonic() - t0, _gradebook_scores(datadir, course_id, users)


def service_scores(url: str, course_id: str) -> dict[str, float]:
    from sqlalchemy import select

    from grading.records.db import session_scope
    from grading.records.models import Learner, Result

    with session_scope(url) as s:
        rows = s.execute(select(Learner.username, Result.score).join(Learner, Learner.id == Result.learner_id)
                         .where(Result.course_id == course_id).order_by(Result.attempt))
        return {u: float(sc) for u, sc in rows}


def feedback_released(datadir: DataDir, course_id: str) -> int:
    d = datadir.exchange / course_id / "feedback"
    return len(list(d.glob("*.html"))) if d.exists() else 0


# --- per-learner papers drawn from a bank ------------------------------------------------------

PAPER_COURSE = "tiaojie"
PAPER_KINDS = ["correct", "alternate", "empty"]
PAPER_SUFFIX = ".paper.json"  # what the grading service writes beside the answers (worker.py)


def publish_bank_course(datadir: DataDir, course_id: str = PAPER_COURSE) -> None:
    from grading.content.publish import publish_course

    publish_course(datadir, course_id)


def _answer_of_key(key):
    """A right answer in the stored-answer shape: fill keys list accepted variants per blank."""
    if isinstance(key, dict):
        return {k: _answer_of_key(v) for k, v in key.items()}
    if isinstance(key, list):
        return [b[0] if isinstance(b, list) else b for b in key]
    return key


def _case_key(q: dict) -> dict:
    return {sq["id"]: sq["key"] for sq in q.get("questions") or []}


def paper_answers(questions: list[dict], kind: str) -> tuple[dict, float]:
    """(answers by question id, expected score) for a paper: the expectation is the points of
    the questions answered with their key (a case: the sum of its sub-questions' points)."""
    answers, expected = {}, 0.0
    for i, q in enumerate(questions):
        if kind == "empty" or (kind == "alternate" and i % 2):
            continue
        key = _case_key(q) if q.get("type") == "case" else q["key"]
        answers[q["id"]] = _answer_of_key(key)
        expected += (sum(float(sq["points"]) for sq in q["questions"]) if q.get("type") == "case"
                     else float(q["points"]))
    return answers, expected


def draw_and_answer(datadir: DataDir, course_id: str, username: str, kind: str,
                    nb_dir: Path) -> tuple[str, list[dict], float]:
    """Draw ``username``'s paper as the records service does (stored in the records DB), write
    the answers file xf.Paper would leave; returns (token, full questions, expected score)."""
    from grading.records.db import session_scope
    from grading.records.papers import by_token
    from hub_config.records_service import draw_paper

    token = draw_paper(datadir.records_db_url, datadir, username, course_id, ASSIGNMENT)["token"]
    with session_scope(datadir.records_db_url) as s:
        questions = list(by_token(s, token).questions)
    answers, expected = paper_answers(questions, kind)
    (nb_dir / "assessment.answers.json").write_text(
        json.dumps({"__paper__": token, **answers}, ensure_ascii=False), encoding="utf-8")
    return token, questions, expected


def run_paper_batch(datadir: DataDir, course_id: str, users: list[str],
                    papers: dict[str, tuple[str, list[dict]]]) -> tuple[float, dict[str, float]]:
    """ONE batch autograde of the paper submissions, each given the paper file the grading
    service would write beside its answers (the learner's own files never carry it)."""
    root = datadir.course_root(course_id)
    t0 = time.monotonic()
    _nbgrader(root, "collect", ASSIGNMENT)
    for u in users:
        token, questions = papers[u]
        (root / "submitted" / u / ASSIGNMENT / ("assessment" + PAPER_SUFFIX)).write_text(
            json.dumps({"token": token, "questions": questions}, ensure_ascii=False), encoding="utf-8")
    _nbgrader(root, "autograde", ASSIGNMENT)
    return time.monotonic() - t0, _gradebook_scores(datadir, course_id, users)


def paper_case(batch_dd: DataDir, svc_dd: DataDir, users: list[str], echo) -> tuple[dict, dict]:
    """Publish the bank course in both dirs, draw and submit a paper per learner (into the
    batch dir's exchange; the caller copies the inbound to the service) and grade the batch.
    Returns ({user: expected score}, {user: batch score})."""
    for dd in (batch_dd, svc_dd):
        publish_bank_course(dd)
    expected, papers = {}, {}
    for i, u in enumerate(users):
        kind = PAPER_KINDS[i % len(PAPER_KINDS)]
        nb_dir = learner_copy(svc_dd, PAPER_COURSE, u)
        token, questions, expected[u] = draw_and_answer(svc_dd, PAPER_COURSE, u, kind, nb_dir)
        papers[u] = (token, questions)
        submit(batch_dd, PAPER_COURSE, u, nb_dir)
    drawn = {tuple(q["id"] for q in qs) for _, qs in papers.values()}
    echo(f"papers: {len(users)} learners drew {len(drawn)} different papers from the "
         f"{PAPER_COURSE} bank ({', '.join(PAPER_KINDS)})")
    secs, batch = run_paper_batch(batch_dd, PAPER_COURSE, users, papers)
    echo(f"  papers, one nbgrader batch: {secs:.1f} s")
    return expected, batch


@dataclass
class BenchReport:
    submissions: int
    batch_s: float  # the baseline: one `nbgrader autograde module`
    service_s: float
    ratio: float  # batch_s / service_s
    p50_idle_s: float
    p95_idle_s: float
    mismatches: int  # service vs batch (and vs per process, when run)
    per_process_s: float | None = None
    ratio_per_process: float | None = None
    papers: int = 0
    paper_mismatches: int = 0  # service and batch vs the scores computed from each paper's keys


def _mismatches(name: str, users: list[str], kinds: dict, theirs: dict, ours: dict, echo) -> set[str]:
    differ = {u for u in users if abs(ours.get(u, -1) - theirs[u]) > 1e-9}
    for u in sorted(differ):  # name them: a mismatch must be traceable to one submission
        echo(f"  MISMATCH {u} ({kinds[u]}): {name}={theirs[u]} service={ours.get(u)}")
    return differ


def bench(workdir: Path, n: int, *, tries: int = 20, workers: int | None = None,
          per_process: bool = True, papers: int = 0, echo=print) -> BenchReport:
    course = "bench"
    users = [f"u{i:04d}" for i in range(n)]
    kinds = {u: KINDS[i % len(KINDS)] for i, u in enumerate(users)}
    idle_users = [f"idle{i:02d}" for i in range(tries)]
    paper_users = [f"p{i:04d}" for i in range(papers)]
    batch_dd = DataDir(workdir / "batch").ensure()
    proc_dd = DataDir(workdir / "per-process").ensure() if per_process else None
    svc_dd = DataDir(workdir / "service").ensure()
    for dd in (batch_dd, proc_dd, svc_dd):
        if dd is not None:
            build_course(dd, course, learners=users + idle_users + paper_users)
    echo(f"course built; submitting {n} submissions ({', '.join(KINDS)})")
    for u in users:
        nb_dir = learner_copy(batch_dd, course, u)
        write_answers(nb_dir, kinds[u])
        submit(batch_dd, course, u, nb_dir)
    # the very same inbound files for the other contenders
    for dd in (proc_dd, svc_dd):
        if dd is not None:
            shutil.copytree(batch_dd.exchange / course / "inbound", dd.exchange / course / "inbound",
                            dirs_exist_ok=True)

    echo("nbgrader, one batch (collect, ONE autograde of all submissions, generate/release feedback) ...")
    batch_s, batch = run_batch(batch_dd, course, users)
    echo(f"  batch: {batch_s:.1f} s, {n / batch_s:.2f} submissions/s")
    proc_s = per_proc = None
    if proc_dd is not None:
        echo("nbgrader, one autograde process per submission (grading on submit with stock tools) ...")
        proc_s, per_proc = run_plain(proc_dd, course, users)
        echo(f"  per process: {proc_s:.1f} s, {n / proc_s:.2f} submissions/s")
    expected = paper_batch = None
    if paper_users:  # after the timed runs, so the figures above measure the same work as before
        expected, paper_batch = paper_case(batch_dd, svc_dd, paper_users, echo)

    args = [f"--workers={workers}"] if workers else []
    svc = Service(svc_dd, *args)
    svc.start()
    try:
        service_s = wait_results(svc_dd.records_db_url, course, n, timeout=max(600, 10 * n))
        echo(f"  service: {service_s:.1f} s, {n / service_s:.2f} submissions/s "
             f"(includes service start-up)")
        svc_scores = service_scores(svc_dd.records_db_url, course)
        differ = _mismatches("batch", users, kinds, batch, svc_scores, echo)
        if per_proc is not None:
            differ |= _mismatches("per_process", users, kinds, per_proc, svc_scores, echo)
        mismatches = len(differ)
        lat = []
        for u in idle_users:
            nb_dir = learner_copy(svc_dd, course, u)
            write_answers(nb_dir, "correct")
            before = feedback_released(svc_dd, course)
            time.sleep(0.3)
            t0 = time.monotonic()
            submit(svc_dd, course, u, nb_dir)
            while feedback_released(svc_dd, course) <= before:
                if time.monotonic() - t0 > 60:
                    raise TimeoutError(f"no feedback for {u}")
                time.sleep(0.02)
            lat.append(time.monotonic() - t0)
        wait_results(svc_dd.records_db_url, course, n + tries, timeout=60)
        paper_differ: set[str] = set()
        if paper_users:
            shutil.copytree(batch_dd.exchange / PAPER_COURSE / "inbound",
                            svc_dd.exchange / PAPER_COURSE / "inbound", dirs_exist_ok=True)
            paper_s = wait_results(svc_dd.records_db_url, PAPER_COURSE, len(paper_users),
                                   timeout=max(300, 10 * len(paper_users)))
            echo(f"  papers, service (warm): {paper_s:.1f} s for {len(paper_users)} submissions")
            svc_papers = service_scores(svc_dd.records_db_url, PAPER_COURSE)
            pkinds = {u: PAPER_KINDS[i % len(PAPER_KINDS)] for i, u in enumerate(paper_users)}
            paper_differ = _mismatches("expected", paper_users, pkinds, expected, svc_papers, echo)
            paper_differ |= _mismatches("expected", paper_users, pkinds, expected, paper_batch,
                                        lambda m: echo(m.replace("service=", "batch=")))
            echo(f"  papers: score mismatches against each paper's keys: {len(paper_differ)}/{len(paper_users)}")
    finally:
        svc.stop()
    lat.sort()
    p50 = statistics.median(lat)
    p95 = lat[min(len(lat) - 1, int(round(0.95 * (len(lat) - 1))))]
    ratio = batch_s / service_s
    ratio_pp = proc_s / service_s if proc_s else None
    echo(f"  idle submit-to-feedback over {tries} tries: p50 {p50:.2f} s, p95 {p95:.2f} s")
    echo(f"  throughput service vs one nbgrader batch: {ratio:.2f}x"
         + (f"; vs one nbgrader process per submission: {ratio_pp:.2f}x" if ratio_pp else "")
         + f"; score mismatches: {mismatches}/{n}")
    return BenchReport(n, batch_s, service_s, ratio, p50, p95, mismatches, proc_s, ratio_pp,
                       len(paper_users), len(paper_differ))
