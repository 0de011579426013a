"""The durable grading queue: one :class:`GradingJob` row per nbgrader submission.

State machine: ``queued -> running -> done | failed``. The exchange's inbound dir is the
source of truth for *what* was submitted; this table records *how far* grading got, so a
crash at any step is recovered by re-running the job (every step of the pipeline is
idempotent) and the result is written exactly once (``Result.job_id`` is unique and is
inserted in the same transaction that marks the job done).

Claiming is one atomic statement on SQLite (writers are serialised, so ``UPDATE ... WHERE
state='queued'`` cannot hand one job to two workers) and ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL. A learner's submissions of one assignment are graded one at a time and in order
(they share nbgrader's ``submitted/<user>/<assignment>`` dir and their attempt numbers).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from grading.records.db import session_scope
from grading.records.models import GradingJob, Result, utcnow

MAX_TRIES = 3  # a submission that kills its worker this often is recorded as an error
# A job is graded in well under a minute (cells time out after 30 s): a job another host has
# been "running" for this long belongs to a host that died (a replaced pod never comes back
# under the same name to recover its own jobs).
FOREIGN_LEASE = timedelta(minutes=15)


@dataclass(frozen=True)
class JobRef:
    id: int
    course_id: str
    assignment: str
    username: str
    submitted_at: datetime
    tries: int


def _ref(j: GradingJob) -> JobRef:
    return JobRef(j.id, j.course_id, j.assignment, j.username, j.submitted_at, j.tries)


def worker_id(n: int | str = 0) -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{n}"


def enqueue(url: str, course_id: str, assignment: str, username: str,
            submitted_at: datetime) -> int | None:
    """Queue a submission once; returns the new job id, or None when it was already known."""
    with session_scope(url) as s:
        found = s.scalar(select(GradingJob.id).filter_by(
            course_id=course_id, assignment=assignment, username=username,
            submitted_at=submitted_at))
        if found is not None:
            return None
    try:
        with session_scope(url) as s:
            job = GradingJob(course_id=course_id, assignment=assignment, username=username,
                             submitted_at=submitted_at, state="queued")
            s.add(job)
            s.flush()
            return job.id
    except IntegrityError:  # another scanner won the race: same submission, one row
        return None


def known_submissions(url: str, course_id: str) -> set[tuple[str, str, datetime]]:
    """(assignment, username, submitted_at) of every job of a course, for the scanner."""
    with session_scope(url) as s:
        rows = s.execute(select(GradingJob.assignment, GradingJob.username,
                                GradingJob.submitted_at).filter_by(course_id=course_id))
        return {(a, u, t) for a, u, t in rows}


def _claimable(s_dialect: str):
    other = aliased(GradingJob)
    busy = exists().where(and_(other.state == "running", other.course_id == GradingJob.course_id,
                               other.assignment == GradingJob.assignment,
                               other.username == GradingJob.username))
    earlier = exists().where(and_(other.state == "queued", other.course_id == GradingJob.course_id,
                                  other.assignment == GradingJob.assignment,
                                  other.username == GradingJob.username,
                                  other.id < GradingJob.id))
    q = (select(GradingJob.id).where(GradingJob.state == "queued", ~busy, ~earlier)
         .order_by(GradingJob.id).limit(1))
    if s_dialect == "postgresql":
        q = q.with_for_update(skip_locked=True, of=GradingJob)
    return q


def claim(url: str, worker: str) -> JobRef | None:
    """Take the oldest claimable queued job for ``worker``; None when there is nothing to do."""
    with session_scope(url) as s:
        dialect = s.get_bind().dialect.name
        now = utcnow()
        if dialect == "postgresql":
            job_id = s.scalar(_claimable(dialect))
            if job_id is None:
                return None
            cond = GradingJob.id == job_id
        else:
            cond = GradingJob.id == _claimable(dialect).scalar_subquery()
        row = s.execute(
            update(GradingJob).where(cond, GradingJob.state == "queued")
            .values(state="running", worker=worker, tries=GradingJob.tries + 1, started_at=now)
            .returning(GradingJob.id)
            .execution_options(synchronize_session=False)).first()
        if row is None:
            return None
        return _ref(s.get(GradingJob, row[0]))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a killed worker whose parent died too may linger as a zombie (containers whose init
    # does not reap): it answers signal 0 but will never finish its job
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def worker_alive(worker: str | None, started_at: datetime | None = None) -> bool:
    """Whether the process behind a worker id still runs: asked of the kernel on our own host;
    another host's worker is trusted for :data:`FOREIGN_LEASE` after it started the job."""
    if not worker:
        return False
    host, _, rest = worker.partition(":")
    if host != socket.gethostname():
        return started_at is None or utcnow() - started_at < FOREIGN_LEASE
    try:
        pid = int(rest.split(":", 1)[0])
    except ValueError:
        return False
    return pid != os.getpid() and _pid_alive(pid)


def requeue_stale(url: str, *, max_tries: int = MAX_TRIES) -> tuple[int, list[JobRef]]:
    """At start-up: put running jobs of dead workers back in the queue. Jobs that already used
    ``max_tries`` are returned (state left running) for the caller to record as errors."""
    requeued, exhausted = 0, []
    with session_scope(url) as s:
        for job in s.scalars(select(GradingJob).filter_by(state="running")):
            if worker_alive(job.worker, job.started_at):
                continue
            if job.tries >= max_tries:
                exhausted.append(_ref(job))
                job.worker = worker_id("recovery")
                continue
            job.state, job.worker, job.error = "queued", None, f"requeued after worker {job.worker} died"
            requeued += 1
    return requeued, exhausted


def release(url: str, job_id: int, error: str) -> None:
    """Give a job back to the queue after a transient failure (e.g. a locked gradebook)."""
    with session_scope(url) as s:
        job = s.get(GradingJob, job_id)
        if job is not None and job.state == "running":
            job.state, job.worker, job.error = "queued", None, error[-2000:]


def finish(url: str, job_id: int, write_result) -> bool:
    """Mark a job done and write its result exactly once, in one transaction.

    ``write_result(session, job)`` adds the Result (and its items). Returns False when the job
    was already finished (a re-run after a crash between commit and acknowledgement)."""
    with session_scope(url) as s:
        job = s.get(GradingJob, job_id, with_for_update=True)
        if job is None or job.state in ("done", "failed"):
            return False
        if s.scalar(select(Result.id).filter_by(job_id=job_id)) is not None:
            job.state, job.finished_at = "done", utcnow()
            return False
        outcome_failed = write_result(s, job)
        job.state = "failed" if outcome_failed else "done"
        job.finished_at = utcnow()
        return True


def counts(url: str) -> dict[str, int]:
    from sqlalchemy import func

    with session_scope(url) as s:
        return dict(s.execute(select(GradingJob.state, func.count()).group_by(GradingJob.state)).all())


def pending(url: str) -> int:
    c = counts(url)
    return c.get("queued", 0) + c.get("running", 0)

