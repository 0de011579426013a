"""The per-submission grading pipeline, run inside a long-lived worker process.

One job goes through small steps, each idempotent so a crash anywhere is repaired by running
the job again (nbgrader-converter style: a list of steps, new behaviour is a new step):

  locate -> check_attempt -> check_size -> collect -> check_notebooks -> rebuild_input
  -> autograde -> read_scores -> withhold -> feedback
  -> (the service writes the Result in the same transaction that marks the job done)

A step may end the pipeline with an outcome (``too_large``, ``bad_notebook``, ...) and a
zh-CN message; the learner still gets a Result row and, when nbgrader produced one, feedback.

Score from data: ``rebuild_input`` builds the notebooks nbgrader grades from the course's
released cells plus the learner's answers file (JSON, schema- and size-checked; see
:mod:`grading.grader.rebuild`), so nothing a learner wrote is executed. The kernel that runs
them is sandboxed (:mod:`grading.host.sandbox`: grader user, empty environment, rlimits, no
network); nbgrader's Autograde, the gradebook and the records stay in this process, the kernel
only executes. ``check_attempt`` refuses a submission the exam rules do not allow (attempts
used up, cool-down, outside the exam window; :mod:`grading.records.exams`), ``withhold`` keeps
keys and explanations out of the released feedback until the reveal rule allows them (the
Result keeps the full items; every read path cuts them to the level in force).

Drawn papers: for a course with a question bank the learner's answers file names the paper
(``"__paper__": token``); the grader takes that paper's questions (keys included) from the
records DB and puts them beside the answers as ``<notebook>.paper.json`` in the kernel's job
dir, where ``xf.grade_slot`` scores each slot. The learner's files never carry a key.

Speed: nbgrader is imported once per worker, collect/autograde/feedback run in-process through
nbgrader's converters and exchange classes, and each worker keeps one warm sandboxed kernel
(:class:`KernelPool`) that grades notebook after notebook: since only course cells run in it,
its namespace is reset and it moves to a fresh private dir per job; a kernel that errs is
replaced.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

from grading.host.priority import GRADING_NICE, set_priority

from grading.host.datadir import DataDir
from grading.records.results import OUTCOME_MESSAGES, Graded

log = logging.getLogger("grading.worker")

ITEM_MIME = "application/vnd.xuefa.item+json"
TIMEOUT_ENAME = "CellTimeoutError"
PAPER_SUFFIX = ".paper.json"  # what xf.Paper / xf.grade_slot read in the grading kernel's cwd
PAPER_KEY = "__paper__"  # the answers file's entry naming the drawn paper
BANK_FILE = "bank.yaml"  # grading.content.bank.BANK_FILE, published into the course root


@dataclass
class Settings:
    """Knobs of the pipeline (the service's traits pass them down to workers)."""

    timeout: int = 30  # seconds per cell (nbgrader Execute.timeout)
    max_submission_bytes: int = 20 * 1024 * 1024
    max_output_lines: int = 1000  # nbgrader LimitOutput.max_lines
    extra_config: dict = field(default_factory=dict)  # {"Section": {"trait": value}}


# --- kernels ------------------------------------------------------------------------------------

PRELOAD = ["__import__('widgets')"]  # binds no name in the notebook's namespace

# run before each job in a reused kernel: nothing of the previous notebook's namespace stays
# (IPython's reset re-creates the user namespace), and the kernel moves to this job's dir
# (chdir first: the previous job's dir is gone, and IPython's reset looks at the cwd)
RESET = ("__import__('os').chdir({path!r})\n"
         "get_ipython().reset(new_session=False)")


class KernelPool:
    """One warm sandboxed kernel per worker, reused for up to ``max_jobs`` notebooks.

    Only the course's own cells ever run in it (the notebook is rebuilt from the course, the
    learner's answers are data files), so reuse is safe as long as each job starts from a clean
    namespace in its own directory: the namespace is reset and the job's answers are copied into
    a fresh private dir before the first cell, and the dir is removed after the last. A kernel
    that showed any error, timed out or died is thrown away and a new one booted at once."""

    def __init__(self, sandbox=None, kernel_name: str = "python3", max_jobs: int = 200):
        self.kernel_name = kernel_name
        self.max_jobs = max_jobs
        self._sandbox = sandbox
        self._next = None

    @property
    def sandbox(self):
        if self._sandbox is None:
            from grading.host.sandbox import Sandbox

            root = os.environ.get("XUEFA_DATA_DIR") or tempfile.gettempdir()
            self._sandbox = Sandbox.for_platform(root)
        return self._sandbox

    def _launch(self):
        from grading.host.sandbox import start_kernel

        # the widgets package (ipywidgets and all) is what every course notebook imports first:
        # importing it while the kernel boots ahead takes ~1 s off the learner's wait
        km = start_kernel(self.sandbox, self.kernel_name,
                          extra_arguments=["--HistoryManager.hist_file=:memory:",
                                           f"--IPKernelApp.exec_lines={PRELOAD!r}"])
        km.xuefa_jobs = 0
        try:  # the kernel runs in a session (autogroup) of its own: give it the service's priority
            set_priority(GRADING_NICE, km.provisioner.process.pid)
        except AttributeError:
            pass
        return km

    def replenish(self) -> None:
        """Launch the next kernel now (it boots in the background, ~1 s of its own CPU)."""
        if self._next is None:
            self._next = self._launch()

    def take(self):
        from jupyter_core.utils import run_sync

        km, self._next = self._next, None
        if km is not None and not run_sync(km.is_alive)():
            self.discard(km)  # killed while waiting (OOM killer, rlimits, an operator): boot another
            km = None
        return km or self._launch()

    def job_dir(self, km, answers_from: str | os.PathLike | None) -> Path:
        """A private dir for one job inside the kernel's own dir, holding only the sanitised
        answers files and the drawn papers the grader wrote (never a file of the learner's)."""
        d = self.sandbox.private_dir(km.home, prefix="job-")
        if answers_from:
            for pattern in ("*.answers.json", "*" + PAPER_SUFFIX):
                for f in Path(answers_from).glob(pattern):
                    if f.is_file() and not f.is_symlink():
                        shutil.copyfile(f, d / f.name, follow_symlinks=False)
                        self.sandbox.give(d / f.name)
        return d

    def release(self, km, healthy: bool) -> None:
        km.xuefa_jobs = getattr(km, "xuefa_jobs", 0) + 1
        if healthy and self._next is None and km.xuefa_jobs < self.max_jobs:
            self._next = km
            return
        self.discard(km)
        self.replenish()

    def discard(self, km) -> None:
        from grading.host.sandbox import stop_kernel

        kc = getattr(km, "xuefa_kc", None)
        if kc is not None:
            kc.stop_channels()
            km.xuefa_kc = None
        stop_kernel(km)

    def close(self) -> None:
        if self._next is not None:
            self.discard(self._next)
            self._next = None


_POOL: KernelPool | None = None


def pool(data_root: str | os.PathLike | None = None) -> KernelPool:
    """The worker's kernel pool; the first call (``worker_main``) names the platform, whose
    grader user the kernels run as."""
    global _POOL
    if _POOL is None:
        from grading.host.sandbox import Sandbox

        _POOL = KernelPool(Sandbox.for_platform(data_root) if data_root else None)
    return _POOL


def _unhealthy(nb) -> bool:
    """Any error output: the kernel may hold a half-run cell's state; don't reuse it."""
    return any(o.get("output_type") == "error" for c in nb.cells for o in c.get("outputs", []))


def pooled_execute_class():
    """nbgrader's Execute preprocessor, running the notebook in the worker's warm sandboxed kernel."""
    from nbclient import NotebookClient
    from nbgrader.preprocessors import Execute

    class PooledExecute(Execute):
        def preprocess(self, nb, resources=None, km=None):
            if not any(c.get("metadata", {}).get("nbgrader", {}).get("grade") for c in nb.cells):
                # a lesson of the module: nothing to score, so no kernel to start and run
                return nb, resources
            kp = pool()
            km = kp.take()
            healthy, jobdir = False, None
            try:
                NotebookClient.__init__(self, nb, km)
                # the kernel's client (channels connected, kernel known ready) stays with the
                # kernel between jobs: a new one would wait for the kernel to answer again
                self.kc = getattr(km, "xuefa_kc", None)
                self.reset_execution_trackers()
                self._check_assign_resources(resources)
                # the notebook's dir is the grader's rebuilt input: only sanitised answers there
                src = (resources or {}).get("metadata", {}).get("path")
                jobdir = kp.job_dir(km, src)
                with self.setup_kernel():
                    km.xuefa_kc = self.kc
                    info = getattr(km, "xuefa_info", None)
                    if info is None:
                        info = km.xuefa_info = self.wait_for_reply(self.kc.kernel_info())
                    self.nb.metadata["language_info"] = info["content"]["language_info"]
                    reply = self.wait_for_reply(self.kc.execute(
                        RESET.format(path=str(jobdir)), silent=True, store_history=False))
                    if (reply or {}).get("content", {}).get("status") != "ok":
                        raise RuntimeError("grading kernel could not be reset: "
                                           f"{(reply or {}).get('content', {}).get('evalue')}")
                    for index, cell in enumerate(self.nb.cells):
                        self.preprocess_cell(cell, resources, index)
                self.set_widgets_metadata()
                healthy = not _unhealthy(self.nb)
                return self.nb, self.resources
            finally:
                kp.release(km, healthy)
                if jobdir is not None:
                    shutil.rmtree(jobdir, ignore_errors=True)

    return PooledExecute


# --- the pipeline ---------------------------------------------------------------------------------

class Stop(Exception):
    """End the pipeline early with a recorded outcome."""

    def __init__(self, outcome: str, message: str):
        super().__init__(message)
        self.outcome, self.message = outcome, message


@dataclass
class Context:
    datadir: DataDir
    course_id: str
    assignment: str
    username: str
    submitted_at: object  # datetime (naive UTC)
    settings: Settings
    config: Config | None = None
    inbound: Path | None = None
    graded: Graded = field(default_factory=Graded)
    input_dir: Path | None = None  # the rebuilt notebooks + sanitised answers nbgrader grades
    reveal: bool = False  # may the learner see keys and explanations (feedback, details)?
    level: str = "wrong"  # reveal level after this attempt: score | wrong | key


def _human(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KB"


def config_for(ctx: Context) -> Config:
    from grading.exchange.nbconfig import course_config

    c = course_config(ctx.datadir, ctx.course_id)
    c.CourseDirectory.student_id = ctx.username
    c.CourseDirectory.assignment_id = ctx.assignment
    c.Execute.timeout = ctx.settings.timeout
    c.LimitOutput.max_lines = ctx.settings.max_output_lines
    for section, traits in (ctx.settings.extra_config or {}).items():
        for k, v in traits.items():
            c[section][k] = v
    return c


def locate(ctx: Context) -> None:
    """Find this job's dir in the exchange inbound (``user+assignment+timestamp+random``) and
    check it may be graded as this learner's: valid names, the learner's own account as owner
    (:mod:`grading.exchange.intake`). A refused folder is moved into quarantine and the job ends
    as ``rejected`` with the reason for the learner."""
    from grading.exchange import intake

    found = intake.find(ctx.datadir, ctx.course_id, ctx.assignment, ctx.username, ctx.submitted_at)
    if found is None:
        raise Stop("error", "未在交换目录中找到这次提交（可能已被管理员删除）。")
    name, rec, st = found
    ctx.inbound = ctx.datadir.exchange / ctx.course_id / "inbound" / name
    try:
        intake.verify(ctx.datadir, ctx.course_id, ctx.username, name, rec, st)
    except intake.Rejected as exc:
        intake.quarantine(ctx.datadir, ctx.course_id, name, exc.reason)
        raise Stop(intake.OUTCOME, exc.message) from None


def check_attempt(ctx: Context) -> None:
    """The exam rules, from the records DB: a submission beyond the allowed attempts, in the
    cool-down or outside the exam window is not graded; its Result says why (``refused``,
    score 0, not counted as an attempt)."""
    from grading.records.exams import submission_refusal

    why = submission_refusal(ctx.datadir.records_db_url, ctx.username, ctx.course_id,
                             ctx.assignment, ctx.submitted_at)
    if why:
        raise Stop("refused", why)


def check_size(ctx: Context) -> None:
    """Size and shape from lstat only (nothing read, no link followed): links, hard links and
    special files end the job as ``rejected``, too many bytes as ``too_large``."""
    from grading.exchange import intake

    limit = ctx.settings.max_submission_bytes
    try:
        intake.measure(ctx.inbound, limit)
    except intake.TooLarge as exc:
        raise Stop("too_large", OUTCOME_MESSAGES["too_large"].format(
            size=_human(exc.size), limit=_human(limit))) from None
    except intake.Rejected as exc:
        intake.quarantine(ctx.datadir, ctx.course_id, ctx.inbound.name, exc.reason)
        raise Stop(intake.OUTCOME, exc.message) from None


def collect(ctx: Context) -> None:
    """nbgrader collect of exactly this submission, done safely: the learner still owns the
    inbound folder and may change it after :func:`check_size`, so the copy itself opens every
    entry with ``O_NOFOLLOW``, rejects links and special files and counts the bytes it reads."""
    from grading.exchange import intake

    root = ctx.datadir.course_root(ctx.course_id)
    parent = root / "submitted" / ctx.username
    parent.mkdir(parents=True, exist_ok=True)
    dest = parent / ctx.assignment
    tmp = parent / f".{ctx.assignment}.collecting"
    shutil.rmtree(tmp, ignore_errors=True)
    limit = ctx.settings.max_submission_bytes
    try:
        intake.copy_tree(ctx.inbound, tmp, limit)
    except intake.TooLarge as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise Stop("too_large", OUTCOME_MESSAGES["too_large"].format(
            size=_human(exc.size), limit=_human(limit))) from None
    except intake.Rejected as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        intake.quarantine(ctx.datadir, ctx.course_id, ctx.inbound.name, exc.reason)
        raise Stop(intake.OUTCOME, exc.message) from None
    intake.replace_dir(tmp, dest, root)


def graded_notebooks(ctx: Context) -> dict[str, float]:
    """Notebook names of the assignment that carry points (name -> max score), from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry

    with Gradebook(ctx.config.CourseDirectory.db_url, ctx.course_id) as gb:
        try:
            a = gb.find_assignment(ctx.assignment)
        except MissingEntry:
            raise Stop("error", "课程尚未发布该作业，无法评分。") from None
        return {nb.name: float(nb.max_score) for nb in a.notebooks}


def check_notebooks(ctx: Context) -> None:
    import nbformat

    sub = ctx.datadir.course_root(ctx.course_id) / "submitted" / ctx.username / ctx.assignment
    expected = graded_notebooks(ctx)
    missing = [n for n, pts in expected.items() if pts > 0 and not (sub / f"{n}.ipynb").exists()]
    if missing:
        raise Stop("missing_notebook", OUTCOME_MESSAGES["missing_notebook"].format(
            names="、".join(f"{n}.ipynb" for n in missing)))
    for name in expected:
        path = sub / f"{name}.ipynb"
        if not path.exists():
            continue
        try:
            nbformat.read(str(path), as_version=nbformat.NO_CONVERT)
        except Exception:  # noqa: BLE001 - whatever nbformat raises, the file is not a notebook
            raise Stop("bad_notebook", OUTCOME_MESSAGES["bad_notebook"] + f"（{name}.ipynb）") from None


def _read_regular(path: Path, limit: int) -> bytes | None:
    """A learner's file, read without following a link and never more than ``limit`` + 1
    bytes (None: absent or not a regular file)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        import stat

        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit + 1)
    finally:
        os.close(fd)


def rebuild_input(ctx: Context) -> None:
    """Build what nbgrader grades from the course plus the learner's data (see ``rebuild``):
    a private dir (root only) with one notebook per released notebook and the sanitised
    answers files; the learner's own files never reach the grading kernel."""
    import nbformat

    from grading.grader.rebuild import MAX_ANSWERS_BYTES, SUFFIX, question_schema, rebuild

    root = ctx.datadir.course_root(ctx.course_id)
    release = root / "release" / ctx.assignment
    sub = root / "submitted" / ctx.username / ctx.assignment
    course_nbs = sorted(p for p in release.glob("*.ipynb") if p.is_file())
    if not course_nbs:
        raise Stop("error", "课程尚未发布该作业，无法评分。")
    banked = (root / BANK_FILE).is_file()
    ctx.input_dir = Path(tempfile.mkdtemp(prefix="xuefa-input-"))
    dest = ctx.input_dir / ctx.username / ctx.assignment
    dest.mkdir(parents=True)
    notes: list[str] = []
    for course_nb in course_nbs:
        theirs = sub / course_nb.name
        raw = _read_regular(sub / (course_nb.stem + SUFFIX), MAX_ANSWERS_BYTES)
        if banked and _is_paper_notebook(course_nb):
            schema = _paper_schema(ctx, course_nb, raw, dest)
        else:
            schema = question_schema(course_nb, root / "source" / ctx.assignment / course_nb.name)
        r = rebuild(course_nb, theirs if theirs.is_file() and not theirs.is_symlink() else None,
                    raw, schema)
        nbformat.write(r.notebook, str(dest / course_nb.name))
        if r.answers is not None:
            (dest / (course_nb.stem + SUFFIX)).write_text(
                json.dumps(r.answers, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        notes += r.notes
    # nbgrader's release_feedback names the learner's feedback after the secret nbgrader submit
    # made: data, copied when it looks like one (a short printable token)
    secret = _read_regular(sub / "submission_secret.txt", 256)
    if secret and len(secret) <= 256 and secret.strip().isascii() and secret.strip().decode().isprintable():
        (dest / "submission_secret.txt").write_bytes(secret.strip())
    # the job's own time (from the inbound name), not the learner's timestamp.txt
    (dest / "timestamp.txt").write_text(
        ctx.submitted_at.strftime("%Y-%m-%d %H:%M:%S.%f") + " UTC", encoding="utf-8")
    for n in notes:
        if n not in ctx.graded.notes:
            ctx.graded.notes.append(n)


def _is_paper_notebook(course_nb: Path) -> bool:
    """The notebook generated from the blueprint (its questions come from a drawn paper)."""
    try:
        text = course_nb.read_text(encoding="utf-8")
    except OSError:
        return False
    return "xf.Paper(" in text or "xf.grade_slot(" in text


def _paper_schema(ctx: Context, course_nb: Path, raw: bytes | None, dest: Path) -> dict:
    """The answers schema of the learner's drawn paper, whose questions (keys included) go
    beside the answers as ``<stem>.paper.json``. A missing, foreign or used-up paper ends the
    job as ``refused``."""
    from grading.grader.rebuild import _spec
    from grading.records.exams import paper_check

    token = None
    if raw is not None:
        try:
            data = json.loads(raw.decode("utf-8-sig"))
            token = data.get(PAPER_KEY) if isinstance(data, dict) else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            token = None
    questions, why = paper_check(ctx.datadir.records_db_url, ctx.username, ctx.course_id,
                                 ctx.assignment, token if isinstance(token, str) else None)
    if questions is None:
        raise Stop("refused", why)
    (dest / (course_nb.stem + PAPER_SUFFIX)).write_text(
        json.dumps({"token": token, "questions": questions}, ensure_ascii=False), encoding="utf-8")
    schema = {str(q["id"]): _spec(str(q.get("type")), q)
              for q in questions if isinstance(q, dict) and "id" in q}
    schema[PAPER_KEY] = {"type": None}  # the token itself stays in the answers (short text)
    return schema


def autograde(ctx: Context) -> None:
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import Execute

    config = copy.deepcopy(ctx.config)
    # nbgrader reads the submission from the grader's rebuilt copy, never the learner's files
    config.CourseDirectory.submitted_directory = str(ctx.input_dir)
    coursedir = CourseDirectory(config=config)
    conv = Autograde(coursedir=coursedir, config=config)
    conv.force = True
    pooled = pooled_execute_class()
    conv.autograde_preprocessors = [pooled if p is Execute else p for p in conv.autograde_preprocessors]
    conv.start()


def autograded_items(out: Path, grades: dict) -> list[dict]:
    """The per-question records of the autograded notebooks in ``out`` (keys included): the
    widgets' item outputs, or the gradebook's grade for a plain nbgrader test cell."""
    import nbformat

    items, seen = [], set()
    for path in sorted(out.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            gid = meta.get("grade_id")
            for o in cell.get("outputs", []):
                data = o.get("data", {})
                if ITEM_MIME in data and isinstance(data[ITEM_MIME], dict):
                    item = dict(data[ITEM_MIME])
                    item.setdefault("notebook", path.stem)
                    items.append(item)
                    seen.add((path.stem, str(item.get("id"))))
                    if gid:  # a drawn paper's cell is graded as slot s01, its item is the bank's q07
                        seen.add((path.stem, gid))
            if meta.get("grade") and gid and (path.stem, gid) not in seen and (path.stem, gid) in grades:
                pts, mx = grades[(path.stem, gid)]
                items.append({"id": gid, "notebook": path.stem, "type": None,
                              "correct": mx > 0 and pts >= mx, "points": pts, "max_points": mx,
                              "legal_basis": "", "explanation": ""})
                seen.add((path.stem, gid))
    return items


def read_scores(ctx: Context) -> None:
    import nbformat
    from nbgrader.api import Gradebook

    g = ctx.graded
    with Gradebook(ctx.config.CourseDirectory.db_url, ctx.course_id) as gb:
        sub = gb.find_submission(ctx.assignment, ctx.username)
        g.score, g.max_score = float(sub.score), float(sub.max_score)
        needs_manual = bool(sub.needs_manual_grade)
        grades = {(gr.notebook.name, gr.name): (float(gr.score), float(gr.max_score))
                  for nb in sub.notebooks for gr in nb.grades}
    out = ctx.datadir.course_root(ctx.course_id) / "autograded" / ctx.username / ctx.assignment
    timed_out = truncated = False
    for path in sorted(out.glob("*.ipynb")):
        for cell in nbformat.read(str(path), as_version=4).cells:
            for o in cell.get("outputs", []):
                if o.get("output_type") == "error" and o.get("ename") == TIMEOUT_ENAME:
                    timed_out = True
                if "Output truncated" in "".join(o.get("text", "")):
                    truncated = True
    g.details = autograded_items(out, grades)
    if timed_out:
        g.outcome = "timeout"
        g.notes.append(OUTCOME_MESSAGES["timeout"].format(timeout=ctx.settings.timeout))
    elif needs_manual:
        g.outcome = "needs_manual"
    if truncated:
        g.notes.append("部分单元格输出过长，已被截断。")


# --- keys withheld until the learner may see them ---------------------------------------------------

WITHHELD = ("key", "explanation")
WITHHELD_NOTE = "正确答案和解析在本课程测试合格、用完考试次数或学习活动结束后显示。"
NEVER_NOTE = "本测试不公布正确答案和解析。"
SCORE_NOTE = "本测试每次提交后只显示得分。"
WITHHELD_SOURCE = "# 正确答案和解析暂不显示。"


def may_reveal(datadir: DataDir, course_id: str, assignment: str, username: str,
               passed_now: bool) -> bool:
    """Whether the reveal level is ``key`` now for an attempt already recorded (manual grading
    finalises essays after the Result exists)."""
    from datetime import datetime, timezone

    from grading.records.exams import grading_level

    try:
        level, _ = grading_level(datadir.records_db_url, username, course_id, assignment,
                                 datetime.now(timezone.utc), False, passed_now)
    except Exception:
        log.warning("could not read the exam rules of %s/%s; keys withheld", course_id, username,
                    exc_info=True)
        return False
    return level == "key"


def withhold_items(items: list[dict]) -> list[dict]:
    """Right/wrong, points and the learner's own answer per item; no key, no explanation."""
    return [{k: v for k, v in d.items() if k not in WITHHELD} for d in items]


def withhold(ctx: Context) -> None:
    """What the learner may see of this attempt (:func:`grading.records.exams.reveal_level`
    with this attempt counted): the level decides the feedback HTML made next; the Result keeps
    the full items, cut to the level in force whenever it is read for the learner."""
    from grading.records.db import session_scope
    from grading.records.exams import COUNTED, grading_level
    from grading.records.results import is_passed, pass_mark

    g = ctx.graded
    passed = False
    if g.outcome in ("ok", "timeout"):
        with session_scope(ctx.datadir.records_db_url) as s:
            mark = pass_mark(s, ctx.course_id)
        passed = is_passed(g.score, g.max_score, mark)
    try:
        ctx.level, st = grading_level(ctx.datadir.records_db_url, ctx.username, ctx.course_id,
                                      ctx.assignment, ctx.submitted_at, g.outcome in COUNTED, passed)
    except Exception:
        log.warning("could not read the exam rules of %s/%s; keys withheld", ctx.course_id,
                    ctx.username, exc_info=True)
        ctx.level, st = "score", None
    ctx.reveal = ctx.level == "key"
    if st is not None:
        g.notes.append(f"本测试最多计分提交 {st.max} 次，您已提交 {min(st.used, st.max)} 次。")
    if not ctx.reveal:
        if st is not None and st.rules.get("key") == "never":
            g.notes.append(NEVER_NOTE)
        else:
            g.notes.append(WITHHELD_NOTE)
        if ctx.level == "score":
            g.notes.append(SCORE_NOTE)


def withhold_keys_preprocessor(level: str = "wrong"):
    """For nbgrader's feedback of an attempt that may not see the keys: the hidden tests' source
    (keys, explanations) and any key in their outputs are taken out before the HTML is made;
    at level ``score`` the graded cells' outputs go entirely (not even which were wrong). The
    notebook's saved widget state goes too: in the grading kernel the widgets were built from
    the drawn paper, keys included."""
    from nbconvert.preprocessors import Preprocessor
    from traitlets import Bool

    class WithholdKeys(Preprocessor):
        enabled = Bool(True)  # nbconvert's default is off; nbgrader registers classes as they are

        def preprocess(self, nb, resources):
            nb.metadata.pop("widgets", None)
            return super().preprocess(nb, resources)

        def preprocess_cell(self, cell, resources, index):
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if cell.cell_type != "code":
                return cell, resources
            if meta.get("grade") and not meta.get("solution"):
                cell.source = WITHHELD_SOURCE
                outputs = []
                for o in cell.get("outputs", []) if level != "score" else []:
                    if o.get("output_type") == "error":
                        o["traceback"] = []  # a traceback quotes the test's source
                    data = o.get("data")
                    if isinstance(data, dict):
                        if isinstance(data.get(ITEM_MIME), dict):
                            data[ITEM_MIME] = withhold_items([data[ITEM_MIME]])[0]
                            # the other forms of the same output may spell the key out
                            for k in list(data):
                                if k not in (ITEM_MIME, "text/plain"):
                                    del data[k]
                    outputs.append(o)
                cell.outputs = outputs
            else:
                # a widget view (the paper itself) has no state left to show; drop it
                cell.outputs = [o for o in cell.get("outputs", [])
                                if "application/vnd.jupyter.widget-view+json" not in (o.get("data") or {})]
            return cell, resources

    return WithholdKeys


_EXPORTER = None


def cached_html_exporter():
    """nbconvert's HTMLExporter whose Jinja templates compile once per worker, not per
    submission (a fresh exporter is built for every conversion; compiling the feedback
    templates was the largest single cost of a warm job)."""
    global _EXPORTER
    if _EXPORTER is None:
        import jinja2
        from nbconvert.exporters import HTMLExporter

        class MemoryBytecodeCache(jinja2.BytecodeCache):
            def __init__(self):
                self.store = {}

            def load_bytecode(self, bucket):
                code = self.store.get((bucket.key, bucket.checksum))
                if code is not None:
                    bucket.bytecode_from_string(code)

            def dump_bytecode(self, bucket):
                self.store[(bucket.key, bucket.checksum)] = bucket.bytecode_to_string()

        bcc = MemoryBytecodeCache()

        class CachedHTMLExporter(HTMLExporter):
            def _create_environment(self):
                env = super()._create_environment()
                env.bytecode_cache = bcc
                return env

        _EXPORTER = CachedHTMLExporter
    return _EXPORTER


def feedback(ctx: Context) -> None:
    """nbgrader generate_feedback + release_feedback for this learner, in-process."""
    from nbgrader.converters import GenerateFeedback
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback

    coursedir = CourseDirectory(config=ctx.config)
    conv = GenerateFeedback(coursedir=coursedir, config=ctx.config)
    conv.exporter_class = cached_html_exporter()
    conv.force = True
    if not ctx.reveal:
        conv.preprocessors = list(conv.preprocessors) + [withhold_keys_preprocessor(ctx.level)]
    conv.start()
    rel = ExchangeReleaseFeedback(coursedir=coursedir, config=ctx.config)
    rel.start()


STEPS = [locate, check_attempt, check_size, collect, check_notebooks, rebuild_input, autograde,
         read_scores, withhold, feedback]


def run(ctx: Context) -> Graded:
    """Run the steps; an outcome-ending step or a failing nbgrader step still yields a Graded."""
    ctx.config = ctx.config or config_for(ctx)
    try:
        return _run(ctx)
    finally:
        if ctx.input_dir is not None:
            shutil.rmtree(ctx.input_dir, ignore_errors=True)


def _run(ctx: Context) -> Graded:
    for step in STEPS:
        t0 = time.monotonic()
        try:
            step(ctx)
            log.debug("step %s took %.3fs", step.__name__, time.monotonic() - t0)
        except Stop as stop:
            ctx.graded.outcome, ctx.graded.message = stop.outcome, stop.message
            if step in (read_scores, withhold, feedback):
                return ctx.graded
            ctx.graded.score = 0.0
            try:
                ctx.graded.max_score = sum(graded_notebooks(ctx).values())
            except Exception:  # noqa: BLE001 - the maximum is a nicety on a result already failed
                pass
            return ctx.graded
    return ctx.graded
