"""Grading scales out: several worker processes share the job queue in the records DB and
every submission is graded exactly once (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, one atomic
UPDATE on SQLite).

The worker processes are real and separate (own interpreter, own connections), the queue and
results are real rows written through ``grading.jobs`` and ``grading.results``; only the
notebook scoring step is a deterministic stand-in, because what is under test is the queue:
nbgrader scoring itself is tested by the grading service's own tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from grading import jobs
from grading.db import session_scope
from grading.models import (
    Assessment, Audience, Course, GradingJob, Learner, Result, Role, Unit,
)

COURSE, ASSIGNMENT = "fazhi_zhengfu", "module"
LEARNERS, PER_LEARNER, WORKERS = 100, 3, 3

WORKER = textwrap.dedent('''
    """A grading worker like grading.service.worker_main: claim, grade, finish, repeat."""
    import hashlib, os, random, sys, time
    from grading import jobs
    from grading.results import Graded, add_result

    url, n, log_path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    me = jobs.worker_id(n)
    idle_since = None
    with open(log_path, "a", buffering=1) as log:
        while True:
            job = jobs.claim(url, me)
            if job is None:
                if jobs.pending(url) == 0:
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since > 1.0:
                        break
                time.sleep(0.02)
                continue
            idle_since = None
            log.write(f"claim {job.id}\\n")
            # stand-in for nbgrader: a score derived from the submission, a little work time
            h = int(hashlib.sha256(f"{job.username}{job.submitted_at}".encode()).hexdigest(), 16)
            time.sleep(random.uniform(0.0, 0.01))
            graded = Graded(score=float(h % 11), max_score=10.0)
            if jobs.finish(url, job.id, lambda s, row, g=graded: add_result(s, row, g)):
                log.write(f"done {job.id}\\n")
''')


def seed(url: str, learners: int = LEARNERS) -> datetime:
    t0 = datetime(2026, 11, 28, 9, 0, 0)
    with session_scope(url) as s:
        unit = Unit(path="海安市", name="海安市", level=0)
        s.add(unit)
        s.add(Course(id=COURSE, title="法治政府建设", pass_mark=60))
        s.flush()
        s.add(Assessment(course_id=COURSE, assignment=ASSIGNMENT, max_score=10))
        s.add_all(Learner(username=f"xy{i:03d}", name=f"学员{i}", unit=unit,
                          audience=Audience.cadre, role=Role.learner) for i in range(learners))
    # each learner submits several times in the burst (resubmission), interleaved in time
    for k in range(PER_LEARNER):
        for i in range(learners):
            ts = t0 + timedelta(seconds=k * learners + i)
            assert jobs.enqueue(url, COURSE, ASSIGNMENT, f"xy{i:03d}", ts) is not None
    return t0


def start_workers(url: str, tmp_path: Path, count: int) -> list[tuple[subprocess.Popen, Path]]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    procs = []
    for n in range(count):
        log = tmp_path / f"worker{n}.log"
        procs.append((subprocess.Popen([sys.executable, str(script), url, str(n), str(log)],
                                       env=env, stderr=subprocess.PIPE, text=True), log))
    return procs


def wait_all(procs, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    try:
        for p, _ in procs:
            p.wait(max(1, deadline - time.monotonic()))
    finally:
        for p, _ in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, _ in procs:
        assert p.returncode == 0, p.stderr.read()


def assert_graded_exactly_once(url: str, learners: int = LEARNERS) -> None:
    total = learners * PER_LEARNER
    with session_scope(url) as s:
        states = dict(s.execute(select(GradingJob.state, func.count()).group_by(GradingJob.state)).all())
        assert states == {"done": total}
        results = s.execute(select(Result.job_id, Result.attempt, Result.submitted_at,
                                   Learner.username).join(Learner)).all()
    assert len(results) == total
    assert len({r.job_id for r in results}) == total  # one result per job, none twice
    # a learner's attempts follow their submission order even with 3 workers racing
    by_learner: dict[str, list] = {}
    for r in results:
        by_learner.setdefault(r.username, []).append((r.submitted_at, r.attempt))
    for username, rows in by_learner.items():
        assert [a for _, a in sorted(rows)] == list(range(1, PER_LEARNER + 1)), username


@pytest.mark.slow
def test_three_workers_grade_300_submissions_exactly_once(records_url, tmp_path):
    seed(records_url)
    procs = start_workers(records_url, tmp_path, WORKERS)
    started = time.monotonic()
    wait_all(procs)
    elapsed = time.monotonic() - started

    assert_graded_exactly_once(records_url)
    claims = Counter()
    per_worker = []
    for _, log in procs:
        ids = [int(line.split()[1]) for line in log.read_text().splitlines() if line.startswith("claim")]
        claims.update(ids)
        per_worker.append(len(ids))
    assert sum(claims.values()) == LEARNERS * PER_LEARNER and max(claims.values()) == 1
    assert all(n > 0 for n in per_worker), per_worker  # all three really shared the work
    print(f"multiworker {records_url.split(':')[0]}: per worker {per_worker}, {elapsed:.1f}s")


@pytest.mark.slow
def test_killed_worker_job_is_requeued_and_graded_once(records_url, tmp_path):
    """SIGKILL one of three workers mid-burst; recovery re-queues its job, the others finish."""
    seed(records_url, learners=20)
    procs = start_workers(records_url, tmp_path, WORKERS)
    victim, victim_log = procs[0]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if victim_log.exists() and victim_log.read_text().count("claim") >= 5:
                break
            time.sleep(0.05)
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        # what the service does when it sees a worker exit (grading.service.requeue_dead)
        for _ in range(50):
            requeued, exhausted = jobs.requeue_stale(records_url)
            assert not exhausted
            if requeued or not _running_of_dead(records_url, victim.pid):
                break
            time.sleep(0.05)
    except BaseException:
        for p, _ in procs:
            p.kill()
        raise
    wait_all(procs[1:])
    assert_graded_exactly_once(records_url, learners=20)


def _running_of_dead(url: str, pid: int) -> bool:
    with session_scope(url) as s:
        return bool(s.scalar(select(func.count()).select_from(GradingJob).where(
            GradingJob.state == "running", GradingJob.worker.like(f"%:{pid}:%"))))
