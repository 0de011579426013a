"""Grading scales out: several worker processes share the job queue in the records DB and
every submission is graded exactly once (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, one atomic
UPDATE on SQLite).

The worker processes are real and separate (own interpreter, own connections), the queue and
results are real rows written through ``grading.records.jobs`` and ``grading.records.results``; only the
notebook scoring step is a deterministic stand-in, because what is under test is the queue:
nbgrader scoring itself is tested by the grading service's own tests.
"""

from __future__ import annotations

import os
import re
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

from grading.records import jobs

from grading.records import migrate
from grading.records.db import session_scope
from grading.records.models import (
    Assessment, Audience, Course, GradingJob, Learner, Result, Role, Unit,
)

COURSE, ASSIGNMENT = "fazhi_zhengfu", "module"
LEARNERS, PER_LEARNER, WORKERS = 100, 3, 3

WORKER = textwrap.dedent('''
    """A grading worker like grading.grader.service.worker_main: claim, grade, finish, repeat."""
    import hashlib, os, random, sys, time
    from grading.records import jobs
    from grading.records.results import Graded, add_result

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
        # what the service does when it sees a worker exit (grading.grader.service.requeue_dead)
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


def test_scanners_racing_to_enqueue_one_submission_make_one_job(records_url):
    """Several services see the same new inbound dir in the same poll: the unique constraint
    lets exactly one enqueue win; the others get None and no error."""
    import threading

    seed(records_url, learners=1)
    ts = datetime(2026, 11, 28, 12, 0, 0)
    barrier, got, errors = threading.Barrier(8), [], []

    def scanner():
        try:
            barrier.wait()
            got.append(jobs.enqueue(records_url, COURSE, ASSIGNMENT, "xy000", ts))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=scanner) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(got) == 8 and sum(x is not None for x in got) == 1, got
    with session_scope(records_url) as s:
        assert s.scalar(select(func.count()).select_from(GradingJob).where(
            GradingJob.submitted_at == ts)) == 1


def _running_of_dead(url: str, pid: int) -> bool:
    with session_scope(url) as s:
        return bool(s.scalar(select(func.count()).select_from(GradingJob).where(
            GradingJob.state == "running", GradingJob.worker.like(f"%:{pid}:%"))))


# --- real nbgrader: three grading services, as on three hosts ----------------------------------

REAL_SUBMISSIONS, SERVICES = 150, 3
GRADED_LINE = re.compile(r"graded job (\d+) \(")
QUEUED_LINE = re.compile(r"queued (\S+)/(\S+) by (\S+) at ")


@pytest.fixture
def shared_pg_datadir(datadir, pg_cluster, pg_url, monkeypatch):
    """One data dir (the shared volume) whose records DB and gradebook are real PostgreSQL
    databases: what several grading hosts share; a SQLite file cannot be shared across hosts."""
    gradebook = pg_cluster.create_database("gb")
    monkeypatch.setenv("XUEFA_RECORDS_DB_URL", pg_url)
    monkeypatch.setenv("XUEFA_GRADEBOOK_DB_URL", gradebook)
    assert datadir.records_db_url == pg_url and datadir.gradebook_url("any") == gradebook
    migrate.upgrade(pg_url)
    yield datadir
    pg_cluster.drop_database(gradebook)


@pytest.mark.slow
def test_three_grading_services_grade_150_real_submissions_exactly_once(shared_pg_datadir):
    """Three ``python -m grading.grader.service --workers 1`` processes on one exchange and one
    PostgreSQL: all three scan the same inbound dir and enqueue concurrently, then share the
    queue; every real nbgrader submission is queued once, claimed once and graded once."""
    from hub_config.tools.bench import (
        Service, build_course, expected_score, learner_copy, submit, write_answers,
    )

    dd = shared_pg_datadir
    url = dd.records_db_url
    course = "duoji"
    users = [f"d{i:03d}" for i in range(REAL_SUBMISSIONS)]
    kinds = {u: ("correct", "partial", "empty")[i % 3] for i, u in enumerate(users)}

    def submit_all(batch):
        for u in batch:
            d = learner_copy(dd, course, u)
            write_answers(d, kinds[u], n_questions=1)
            submit(dd, course, u, d)

    t0 = time.monotonic()
    services = [Service(dd, "--workers=1", log=dd.logs / f"grading-{n}.log") for n in range(SERVICES)]
    try:
        # the services are up before the course is published, as on a running platform
        for svc in services:
            svc.start()
        build_course(dd, course, n_questions=1, learners=users)  # one cell: the queue is under test
        # a backlog is waiting when the services first see the course (all three race to
        # enqueue it), the rest arrives while they grade (three scanners see each one)
        half = REAL_SUBMISSIONS // 2
        submit_all(users[:half])
        published = time.monotonic() - t0
        submit_all(users[half:])
        deadline = time.monotonic() + 600
        while (c := jobs.counts(url)).get("done", 0) + c.get("failed", 0) < REAL_SUBMISSIONS:
            assert all(s.proc.poll() is None for s in services), "a grading service exited"
            assert time.monotonic() < deadline, f"not graded in time: {c}"
            time.sleep(0.5)
        total_s = time.monotonic() - t0
    finally:
        for svc in services:
            svc.stop()

    with session_scope(url) as s:
        job_rows = s.execute(select(GradingJob.id, GradingJob.username, GradingJob.state,
                                    GradingJob.tries, GradingJob.worker)).all()
        results = s.execute(select(Result.job_id, Result.score, Result.outcome, Learner.username)
                            .join(Learner)).all()
    # one job per submission, done, claimed exactly once (claim() counts tries)
    assert sorted(j.username for j in job_rows) == users
    assert Counter(j.state for j in job_rows) == {"done": REAL_SUBMISSIONS}
    assert {j.tries for j in job_rows} == {1}
    # one Result per job, with nbgrader's score for what the learner answered
    assert len(results) == REAL_SUBMISSIONS
    assert {r.job_id for r in results} == {j.id for j in job_rows}
    assert {r.username: r.score for r in results} == {
        u: expected_score(kinds[u], n_questions=1) for u in users}
    assert {r.outcome for r in results} == {"ok"}

    # each service's own log: what it enqueued and graded; together every job exactly once
    worker_of = {j.id: j.worker for j in job_rows}
    graded, queued = [], []
    for svc in services:
        text = svc.log.read_text(encoding="utf-8", errors="replace")
        graded.append([int(m) for m in GRADED_LINE.findall(text)])
        queued.append(QUEUED_LINE.findall(text))
    all_graded = Counter(i for ids in graded for i in ids)
    assert set(all_graded) == set(worker_of) and max(all_graded.values()) == 1
    assert sum(len(q) for q in queued) == REAL_SUBMISSIONS  # an enqueue race has one winner
    per_service = [len(ids) for ids in graded]
    lost_races = max(worker_of) - REAL_SUBMISSIONS  # a failed INSERT still takes a sequence id
    assert all(n > 0 for n in per_service), per_service  # all three hosts took part
    # a service's jobs carry its own worker's id, and no worker id belongs to two services
    owners = [{worker_of[i] for i in ids} for ids in graded]
    assert all(len(o) == 1 for o in owners) and len(set().union(*owners)) == SERVICES, owners
    print(f"\nmultiworker real nbgrader on postgresql: {REAL_SUBMISSIONS} submissions, "
          f"{SERVICES} services: graded per service {per_service}, enqueued per service "
          f"{[len(q) for q in queued]} (~{lost_races} enqueue races lost); course published + {half} submitted after {published:.1f}s, "
          f"all graded after {total_s:.1f}s")
