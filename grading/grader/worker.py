"""The per-submission grading pipeline, run inside a long-lived worker process.

One job goes through small steps, each idempotent so a crash anywhere is repaired by running
the job again (nbgrader-converter style: a list of steps, new behaviour is a new step):

  locate -> check_size -> collect -> check_notebooks -> autograde -> read_scores -> feedback
  -> (the service writes the Result in the same transaction that marks the job done)

A step may end the pipeline with an outcome (``too_large``, ``bad_notebook``, ...) and a
zh-CN message; the learner still gets a Result row and, when nbgrader produced one, feedback.

Speed without shared state: nbgrader is imported once per worker, collect/autograde/feedback
run in-process through nbgrader's converters and exchange classes, and kernels come from a
:class:`KernelPool`: each worker keeps one kernel booted ahead of time, uses it for exactly
one notebook and kills it, and launches the replacement right away so it boots while this
submission's feedback is generated. Every notebook therefore runs in a fresh kernel process
(nothing of one learner's run can be seen by another), but nobody waits for a kernel start.
"""

from __future__ import annotations

import glob
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from traitlets.config import Config

from grading.host.priority import GRADING_NICE, set_priority

from grading.exchange.names import parse_inbound
from grading.host.datadir import DataDir
from grading.records.results import OUTCOME_MESSAGES, Graded

log = logging.getLogger("grading.worker")

ITEM_MIME = "application/vnd.xuefa.item+json"
TIMEOUT_ENAME = "CellTimeoutError"


@dataclass
class Settings:
    """Knobs of the pipeline (the service's traits pass them down to workers)."""

    timeout: int = 30  # seconds per cell (nbgrader Execute.timeout)
    max_submission_bytes: int = 20 * 1024 * 1024
    max_output_lines: int = 1000  # nbgrader LimitOutput.max_lines
    extra_config: dict = field(default_factory=dict)  # {"Section": {"trait": value}}


# --- kernels ------------------------------------------------------------------------------------

PRELOAD = ["__import__('widgets')"]  # binds no name in the learner's namespace


class KernelPool:
    """A ready kernel for the next notebook; each kernel runs one notebook, then is replaced."""

    def __init__(self, kernel_name: str = "python3"):
        self.kernel_name = kernel_name
        self._next = None
        self._cwd = tempfile.mkdtemp(prefix="xuefa-kernel-")

    def _launch(self):
        from jupyter_client.manager import AsyncKernelManager
        from jupyter_core.utils import run_sync

        km = AsyncKernelManager(kernel_name=self.kernel_name)
        # what nbgrader's Execute would give the kernel it starts itself
        env = dict(os.environ, NBGRADER_EXECUTION="autograde")
        # the widgets package (ipywidgets and all) is what every course notebook imports first:
        # importing it while the kernel boots ahead takes ~1 s off the learner's wait
        run_sync(km.start_kernel)(extra_arguments=["--HistoryManager.hist_file=:memory:",
                                                   f"--IPKernelApp.exec_lines={PRELOAD!r}"],
                                  env=env, cwd=self._cwd)
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
            self.discard(km)  # killed while waiting (OOM killer, an operator): boot another
            km = None
        return km or self._launch()

    def discard(self, km) -> None:
        from jupyter_core.utils import run_sync

        try:
            run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # already dead (e.g. the notebook called os._exit)
            log.debug("kernel shutdown failed", exc_info=True)

    def close(self) -> None:
        if self._next is not None:
            self.discard(self._next)
            self._next = None
        shutil.rmtree(self._cwd, ignore_errors=True)


_POOL: KernelPool | None = None


def pool() -> KernelPool:
    global _POOL
    if _POOL is None:
        _POOL = KernelPool()
    return _POOL


def pooled_execute_class():
    """nbgrader's Execute preprocessor, taking its kernel from the worker's pool."""
    from nbclient import NotebookClient
    from nbgrader.preprocessors import Execute

    class PooledExecute(Execute):
        def preprocess(self, nb, resources=None, km=None):
            if not any(c.get("metadata", {}).get("nbgrader", {}).get("grade") for c in nb.cells):
                # a lesson of the module: nothing to score, so no kernel to start and run
                # (a module's lessons cost two kernels per submission, twice the assessment)
                return nb, resources
            kp = pool()
            km = kp.take()
            try:
                NotebookClient.__init__(self, nb, km)
                self.reset_execution_trackers()
                self._check_assign_resources(resources)
                with self.setup_kernel():
                    info = self.wait_for_reply(self.kc.kernel_info())
                    self.nb.metadata["language_info"] = info["content"]["language_info"]
                    # the kernel booted before we knew the notebook: move it where nbgrader
                    # would have started it (answers files are read relative to it)
                    path = (resources or {}).get("metadata", {}).get("path") or os.getcwd()
                    code = f"__import__('os').chdir({str(path)!r})"
                    self.wait_for_reply(self.kc.execute(code, silent=True, store_history=False))
                    for index, cell in enumerate(self.nb.cells):
                        self.preprocess_cell(cell, resources, index)
                self.set_widgets_metadata()
                return self.nb, self.resources
            finally:
                kp.discard(km)
                kp.replenish()

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
            raise Stop("error", "课程尚未发布该作业，无法评分。")
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
        except Exception:
            raise Stop("bad_notebook", OUTCOME_MESSAGES["bad_notebook"] + f"（{name}.ipynb）")


def autograde(ctx: Context) -> None:
    from nbgrader.converters import Autograde
    from nbgrader.coursedir import CourseDirectory
    from nbgrader.preprocessors import Execute

    coursedir = CourseDirectory(config=ctx.config)
    conv = Autograde(coursedir=coursedir, config=ctx.config)
    conv.force = True
    pooled = pooled_execute_class()
    conv.autograde_preprocessors = [pooled if p is Execute else p for p in conv.autograde_preprocessors]
    conv.start()


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
    items, seen, timed_out, truncated = [], set(), False, False
    for path in sorted(out.glob("*.ipynb")):
        nb = nbformat.read(str(path), as_version=4)
        for cell in nb.cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            for o in cell.get("outputs", []):
                if o.get("output_type") == "error" and o.get("ename") == TIMEOUT_ENAME:
                    timed_out = True
                if "Output truncated" in "".join(o.get("text", "")):
                    truncated = True
                data = o.get("data", {})
                if ITEM_MIME in data and isinstance(data[ITEM_MIME], dict):
                    item = dict(data[ITEM_MIME])
                    item.setdefault("notebook", path.stem)
                    items.append(item)
                    seen.add((path.stem, str(item.get("id"))))
            # a grade cell without a widget item (plain nbgrader tests): score from the gradebook
            gid = meta.get("grade_id")
            if meta.get("grade") and gid and (path.stem, gid) not in seen and (path.stem, gid) in grades:
                pts, mx = grades[(path.stem, gid)]
                items.append({"id": gid, "notebook": path.stem, "type": None,
                              "correct": mx > 0 and pts >= mx, "points": pts, "max_points": mx,
                              "legal_basis": "", "explanation": ""})
                seen.add((path.stem, gid))
    g.details = items
    present = {(path.stem, c.get("metadata", {}).get("nbgrader", {}).get("grade_id"))
               for path in out.glob("*.ipynb")
               for c in nbformat.read(str(path), as_version=4).cells}
    deleted = sorted(gid for (nb_name, gid) in grades if (nb_name, gid) not in present)
    if deleted:
        # nbgrader restores edited test cells but not deleted ones: it leaves them to a trainer
        g.notes.append(f"提交中缺少评分单元格 {'、'.join(deleted)}（可能被删除），已交讲师复核。")
    if timed_out:
        g.outcome = "timeout"
        g.notes.append(OUTCOME_MESSAGES["timeout"].format(timeout=ctx.settings.timeout))
    elif needs_manual:
        g.outcome = "needs_manual"
    if truncated:
        g.notes.append("部分单元格输出过长，已被截断。")


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
    conv.start()
    rel = ExchangeReleaseFeedback(coursedir=coursedir, config=ctx.config)
    rel.start()


STEPS = [locate, check_size, collect, check_notebooks, autograde, read_scores, feedback]


def run(ctx: Context) -> Graded:
    """Run the steps; an outcome-ending step or a failing nbgrader step still yields a Graded."""
    ctx.config = ctx.config or config_for(ctx)
    for step in STEPS:
        t0 = time.monotonic()
        try:
            step(ctx)
            log.debug("step %s took %.3fs", step.__name__, time.monotonic() - t0)
        except Stop as stop:
            ctx.graded.outcome, ctx.graded.message = stop.outcome, stop.message
            if step in (read_scores, feedback):
                return ctx.graded
            ctx.graded.score = 0.0
            try:
                ctx.graded.max_score = sum(graded_notebooks(ctx).values())
            except Exception:
                pass
            return ctx.graded
    return ctx.graded
