"""The grading service (hub-managed service "grading"): ``python -m grading.grader.service``.

It watches every course's exchange inbound dir (a cheap directory scan every
``poll_interval`` seconds, no inotify needed on shared volumes), queues each new submission as
a durable :class:`~grading.records.models.GradingJob` and lets ``workers`` long-lived worker processes
grade them (:mod:`grading.grader.worker`): collect, autograde, feedback, release, Result.

Crash safety: the queue is in the records DB; at start-up running jobs whose worker process
is gone are queued again, and a job's Result is written in the same transaction that marks it
done, so after a SIGKILL at any point every submission ends up graded exactly once.
Essays: results waiting for a trainer (outcome ``needs_manual``) are re-read from the
gradebook every ``manual_sync_interval`` seconds; once formgrader has no ungraded cell left the
score, message and released feedback are updated.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import signal
import sys
import time
import traceback
from pathlib import Path

from traitlets import Float, Integer, Unicode, default
from traitlets.config import Application

from grading.exchange.names import parse_inbound
from grading.records import jobs
from grading.grader.worker import Context, Settings
from grading.host.datadir import DataDir
from grading.host.perms import private_umask
from grading.host.priority import GRADING_NICE, set_priority
from grading.records.results import OUTCOME_MESSAGES, Graded, add_result

log = logging.getLogger("grading.grader.service")


def scan(datadir: DataDir, url: str, known: dict[str, set], ensured: set[str]) -> int:
    """Queue every complete inbound submission not seen before; returns how many were new.
    A dir is complete once nbgrader submit wrote its ``timestamp.txt`` (it does that last).

    Every new folder passes :func:`grading.exchange.intake.triage` first: only a valid name of
    an active learner, a published course and its assignment, owned by that learner's account,
    is queued; a refused folder is queued in its owner's name (to be recorded as ``rejected``)
    or moved into quarantine, and the scan goes on with the next one."""
    from grading.exchange import intake
    from grading.exchange.nbconfig import ensure_course
    from grading.host.sysusers import user_prefix

    new = 0
    try:
        courses = sorted(e.name for e in os.scandir(datadir.exchange))
    except FileNotFoundError:
        return 0
    roster = None
    for course_id in courses:
        inbound = intake.inbound_dir(datadir, course_id)
        if inbound is None:
            continue  # not a course dir the platform made (the exchange root is world-writable)
        if course_id not in known:
            known[course_id] = jobs.known_submissions(url, course_id)
        seen = known[course_id]
        try:
            with os.scandir(inbound) as it:
                names = sorted(e.name for e in it)
        except OSError:
            continue
        batch = []
        for name in names:
            rec = parse_inbound(name)
            if name in seen or (rec is not None and (rec[1], rec[0], rec[2]) in seen):
                continue
            if roster is None:
                roster = intake.load_roster(url)
                prefix = user_prefix(datadir.root)
            try:
                v = intake.triage(inbound, name, course_id, roster, prefix)
                if v.action == "quarantine":
                    intake.quarantine(datadir, course_id, name, v.reason)
                    continue
            except Exception:
                log.exception("intake of %r in %s failed", name, course_id)
                seen.add(name)
                continue
            if v.action == "wait":
                continue
            if v.action == "reject":
                log.warning("%r in %s refused (%s): queued as %s to be recorded as rejected",
                            name, course_id, v.reason, v.username)
            seen.add(name)
            batch.append((v.username, v.assignment, v.submitted_at))
        if batch and course_id not in ensured:
            try:
                ensure_course(datadir, course_id)
            except Exception:
                log.exception("could not prepare course %s", course_id)
            ensured.add(course_id)
        for username, assignment, ts in sorted(batch, key=lambda r: r[2]):
            if jobs.enqueue(url, course_id, assignment, username, ts) is not None:
                new += 1
                log.info("queued %s/%s by %s at %s", course_id, assignment, username, ts)
            seen.add((assignment, username, ts))
    return new


# --- workers --------------------------------------------------------------------------------------

def grade_job(datadir: DataDir, job: jobs.JobRef, settings: Settings) -> Graded:
    from grading.grader.worker import run

    last = None
    for attempt in range(2):  # a locked SQLite gradebook is worth one more try
        ctx = Context(datadir, job.course_id, job.assignment, job.username, job.submitted_at, settings)
        try:
            return run(ctx)
        except Exception:  # noqa: BLE001 - any failure of one job is recorded; the worker goes on
            last = traceback.format_exc()
            log.warning("job %s attempt %d failed:\n%s", job.id, attempt + 1, last)
    return Graded(outcome="error", message=OUTCOME_MESSAGES["error"], notes=[last or ""])


def _share_gradebook_engines() -> None:
    """One SQLAlchemy engine per gradebook URL in this worker. nbgrader's Gradebook creates an
    engine per instance (a dozen per submission), so every statement was compiled anew and, on
    PostgreSQL, every connection re-initialised the dialect: about a third of a warm job's CPU.
    ``Gradebook.close()`` still disposes the engine's pooled connections."""
    import nbgrader.api

    if getattr(nbgrader.api.create_engine, "xuefa_shared", False):
        return
    original, engines = nbgrader.api.create_engine, {}

    def create_engine(url, **kwargs):
        key = (str(url), tuple(sorted(kwargs.items())))
        if key not in engines:
            engines[key] = original(url, **kwargs)
        return engines[key]

    create_engine.xuefa_shared = True
    nbgrader.api.create_engine = create_engine


def worker_main(root: str, n: int, settings: Settings, log_level: int = logging.INFO) -> None:
    """One long-lived worker: nbgrader already imported, a kernel always booting ahead."""
    from grading.grader.worker import pool
    from grading.records.db import get_engine

    logging.basicConfig(level=log_level, format=f"%(asctime)s [w{n}] %(name)s %(message)s", force=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    datadir = DataDir(Path(root))
    url = datadir.records_db_url
    get_engine(url).dispose(close=False)  # connections inherited over fork belong to the parent
    me = jobs.worker_id(n)
    _share_gradebook_engines()
    kp = pool(root)  # kernels run as this platform's grader user
    kp.replenish()
    try:
        while True:
            job = jobs.claim(url, me)
            if job is None:
                time.sleep(0.1)
                continue
            t0 = time.monotonic()
            graded = grade_job(datadir, job, settings)
            if graded.outcome == "error" and graded.notes:
                err = graded.notes.pop()
            else:
                err = None

            def write(s, row, graded=graded, err=err):
                if err:
                    row.error = err[-4000:]
                return add_result(s, row, graded)

            jobs.finish(url, job.id, write)
            log.info("graded job %s (%s/%s %s): %s %g/%g in %.2fs", job.id, job.course_id,
                     job.assignment, job.username, graded.outcome, graded.score,
                     graded.max_score, time.monotonic() - t0)
    finally:
        kp.close()


# --- the service ----------------------------------------------------------------------------------

class GradingService(Application):
    """Watches the exchange and grades every submission with nbgrader, in parallel."""

    name = "xuefa-grading"
    description = "xuefa grading service: nbgrader autograde on every submission, seconds after 提交"

    data_dir = Unicode("", help="Platform data dir (default: $XUEFA_DATA_DIR).").tag(config=True)
    workers = Integer(help="Worker processes grading in parallel (default: CPU cores).").tag(config=True)
    # a scan is one directory listing per course: cheap, and half of it is what a learner waits
    poll_interval = Float(0.2, help="Seconds between scans of the exchange inbound dirs.").tag(config=True)
    timeout = Integer(30, help="Seconds a notebook cell may run before it is interrupted "
                               "(nbgrader Execute.timeout).").tag(config=True)
    max_submission_bytes = Integer(20 * 1024 * 1024, help="Submissions larger than this are "
                                   "not graded (outcome too_large).").tag(config=True)
    max_output_lines = Integer(1000, help="Lines kept per cell output (nbgrader LimitOutput).").tag(config=True)
    manual_sync_interval = Float(help="Seconds between syncs of trainers' manual grades from the "
                                 "gradebooks (default: $XUEFA_MANUAL_SYNC_INTERVAL, else 30).").tag(config=True)

    aliases = {"workers": "GradingService.workers", "data-dir": "GradingService.data_dir",
               "timeout": "GradingService.timeout", "log-level": "Application.log_level"}

    @default("log_level")
    def _log_level_default(self):
        return logging.INFO

    @default("manual_sync_interval")
    def _manual_sync_interval_default(self):
        # an environment knob too: the hub passes it through, so a test platform can shorten it
        return float(os.environ.get("XUEFA_MANUAL_SYNC_INTERVAL") or 30.0)

    @default("workers")
    def _workers_default(self):
        return max(1, os.cpu_count() or 1)

    def settings(self) -> Settings:
        return Settings(timeout=self.timeout, max_submission_bytes=self.max_submission_bytes,
                        max_output_lines=self.max_output_lines)

    def _spawn(self, ctx, n: int):
        p = ctx.Process(target=worker_main, name=f"grading-worker-{n}",
                        args=(str(self.datadir.root), n, self.settings(), self.log_level), daemon=True)
        p.start()
        return p

    def start(self) -> None:
        from grading.records import migrate
        from grading.records.db import get_engine
        from grading.grader.manual import sync_manual
        from grading.exchange.nbconfig import venv_on_path

        logging.basicConfig(level=self.log_level, format="%(asctime)s [main] %(name)s %(message)s", force=True)
        private_umask()  # submitted copies, quarantine, gradebooks: root's alone
        venv_on_path()
        self.datadir = DataDir.from_env(self.data_dir or None)
        # scores are what people wait on: ahead of their pages when the CPUs are overloaded
        set_priority(GRADING_NICE)
        url = self.datadir.records_db_url
        migrate.upgrade(url)
        requeued, exhausted = jobs.requeue_stale(url)
        for job in exhausted:
            g = Graded(outcome="error", message=OUTCOME_MESSAGES["error"])
            jobs.finish(url, job.id, lambda s, row, g=g: add_result(s, row, g))
        log.info("starting: %d workers, %d jobs re-queued, %d given up", self.workers, requeued,
                 len(exhausted))
        get_engine(url).dispose()
        import nbgrader.converters  # noqa: F401  (imported once, inherited by forked workers)
        import nbgrader.exchange.default  # noqa: F401

        ctx = mp.get_context("fork")
        procs = [self._spawn(ctx, n) for n in range(self.workers)]
        stopping = False

        def stop(*_):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        (self.datadir.run).mkdir(parents=True, exist_ok=True)
        pidfile = self.datadir.run / "grading.pid"
        pidfile.write_text(str(os.getpid()))
        known: dict[str, set] = {}
        ensured: set[str] = set()
        last_sync = 0.0
        try:
            while not stopping:
                try:
                    scan(self.datadir, url, known, ensured)
                except Exception:
                    log.exception("scan failed")
                for i, p in enumerate(procs):
                    if not p.is_alive():
                        log.warning("worker %d exited (%s); restarting it", i, p.exitcode)
                        requeue_dead(url)
                        procs[i] = self._spawn(ctx, i)
                if time.monotonic() - last_sync > self.manual_sync_interval:
                    last_sync = time.monotonic()
                    requeue_dead(url)  # e.g. another service instance on this host died
                    try:
                        sync_manual(self.datadir)
                    except Exception:
                        log.exception("manual-grade sync failed")
                time.sleep(self.poll_interval)
        finally:
            for p in procs:
                if p.is_alive():
                    p.terminate()
            for p in procs:
                p.join(5)
                if p.is_alive():
                    p.kill()
            try:
                pidfile.unlink()
            except FileNotFoundError:
                pass


def requeue_dead(url: str) -> None:
    requeued, exhausted = jobs.requeue_stale(url)
    for job in exhausted:
        g = Graded(outcome="error", message=OUTCOME_MESSAGES["error"])
        jobs.finish(url, job.id, lambda s, row, g=g: add_result(s, row, g))


main = GradingService.launch_instance

if __name__ == "__main__":
    main()
