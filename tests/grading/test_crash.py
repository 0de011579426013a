"""SIGKILL the grading service mid-run: after a restart every submission is graded exactly once."""

from __future__ import annotations

import os
import time

from sqlalchemy import func, select

from hub_config.tools.bench import KINDS, Service, build_course, expected_score, learner_copy, service_scores, submit, write_answers
from grading.records.db import session_scope
from grading.records.models import GradingJob, Result

N = 8


def _running_kernels_of(pids: set[int]) -> list[int]:
    """Kernel processes whose parent was one of ``pids`` (they must die with their worker)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as fh:
                env = fh.read().split(b"\0")
        except OSError:
            continue
        for kv in env:
            if kv.startswith(b"JPY_PARENT_PID=") and int(kv.split(b"=")[1] or 0) in pids:
                found.append(int(d))
    return found


def _children(pid: int) -> set[int]:
    out = set()
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as fh:
                    if int(fh.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.add(int(d))
            except (OSError, ValueError, IndexError):
                pass
    return out


def test_sigkill_mid_run_then_restart_grades_everything_exactly_once(datadir, records_url):
    users = [f"learner{i}" for i in range(N)]
    build_course(datadir, "crash", learners=users)
    kinds = {u: KINDS[i % len(KINDS)] for i, u in enumerate(users)}
    for u in users:
        d = learner_copy(datadir, "crash", u)
        write_answers(d, kinds[u])
        submit(datadir, "crash", u, d)

    svc = Service(datadir, "--workers=2").start()
    try:
        # wait until work is in progress and some is still queued, then pull the plug
        t0 = time.monotonic()
        while time.monotonic() - t0 < 180:
            with session_scope(records_url) as s:
                states = dict(s.execute(select(GradingJob.state, func.count()).group_by(GradingJob.state)).all())
            if states.get("running", 0) >= 1 and states.get("queued", 0) >= 1:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"never saw running and queued jobs: {states}")
        workers = _children(svc.proc.pid)
        svc.kill(9)
    finally:
        svc.stop()
    with session_scope(records_url) as s:
        done_before = s.scalar(select(func.count()).select_from(Result))
    assert done_before < N
    # the kernels of killed workers notice their parent is gone and exit by themselves
    t0 = time.monotonic()
    while _running_kernels_of(workers) and time.monotonic() - t0 < 15:
        time.sleep(0.2)
    assert not _running_kernels_of(workers)

    with Service(datadir, "--workers=2"):
        t0 = time.monotonic()
        while time.monotonic() - t0 < 300:
            with session_scope(records_url) as s:
                if s.scalar(select(func.count()).select_from(GradingJob)
                            .where(GradingJob.state.in_(["queued", "running"]))) == 0:
                    break
            time.sleep(0.2)
    with session_scope(records_url) as s:
        results = s.execute(select(Result.job_id, Result.attempt)).all()
        jobs = s.execute(select(GradingJob.id, GradingJob.state)).all()
    assert len(jobs) == N and all(state == "done" for _, state in jobs)
    assert len(results) == N and {j for j, _ in results} == {j for j, _ in jobs}
    assert all(attempt == 1 for _, attempt in results)
    scores = service_scores(records_url, "crash")
    assert scores == {u: expected_score(kinds[u]) for u in users}
