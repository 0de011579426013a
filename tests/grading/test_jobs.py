"""The durable grading queue: idempotent enqueue, atomic claims, recovery, exactly-once finish."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timedelta

from grading.records import jobs
from grading.records.db import session_scope
from grading.records.models import Audience, GradingJob, Learner, Result, Role, Unit
from grading.records.results import Graded, add_result

T0 = datetime(2026, 11, 1, 8, 0, 0)


def _learners(url, *names):
    with session_scope(url) as s:
        u = Unit(path="测试市", name="测试市", level=0)
        s.add(u)
        s.flush()
        for n in names:
            s.add(Learner(username=n, name=n, unit_id=u.id, audience=Audience.cadre, role=Role.learner))


def test_enqueue_is_idempotent(records_url):
    a = jobs.enqueue(records_url, "c1", "module", "ann", T0)
    assert a is not None
    assert jobs.enqueue(records_url, "c1", "module", "ann", T0) is None
    assert jobs.enqueue(records_url, "c1", "module", "ann", T0 + timedelta(seconds=1)) is not None
    assert jobs.counts(records_url) == {"queued": 2}
    assert ("module", "ann", T0) in jobs.known_submissions(records_url, "c1")


def test_claim_hands_each_job_to_one_worker_and_serialises_a_learner(records_url):
    jobs.enqueue(records_url, "c1", "module", "ann", T0)
    jobs.enqueue(records_url, "c1", "module", "ann", T0 + timedelta(minutes=1))
    jobs.enqueue(records_url, "c1", "module", "bob", T0)
    first = jobs.claim(records_url, "w1")
    second = jobs.claim(records_url, "w2")
    assert {first.username, second.username} == {"ann", "bob"}
    # ann's second attempt waits until her first is finished
    assert jobs.claim(records_url, "w3") is None
    ann = first if first.username == "ann" else second
    assert ann.submitted_at == T0 and ann.tries == 1
    jobs.finish(records_url, ann.id, lambda s, job: False)
    nxt = jobs.claim(records_url, "w3")
    assert nxt.username == "ann" and nxt.submitted_at == T0 + timedelta(minutes=1)


def test_concurrent_claims_never_double_book(records_url, tmp_path):
    for i in range(30):
        jobs.enqueue(records_url, "c1", "module", f"user{i:02d}", T0)
    script = tmp_path / "claimer.py"
    script.write_text(
        "import sys\nfrom grading.records import jobs\nurl, name = sys.argv[1], sys.argv[2]\n"
        "got = []\nwhile (j := jobs.claim(url, name)) is not None:\n    got.append(j.id)\n"
        "print(' '.join(map(str, got)))\n")
    env = dict(os.environ, PYTHONPATH=os.getcwd())
    procs = [subprocess.Popen([sys.executable, str(script), records_url, f"w{i}"],
                              stdout=subprocess.PIPE, text=True, env=env) for i in range(3)]
    claimed = []
    for p in procs:
        out, _ = p.communicate(timeout=120)
        claimed += [int(x) for x in out.split()]
    assert len(claimed) == 30 and len(set(claimed)) == 30


def test_requeue_stale_recovers_dead_workers_only(records_url):
    jobs.enqueue(records_url, "c1", "module", "ann", T0)
    jobs.enqueue(records_url, "c1", "module", "bob", T0)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    dead_worker = f"{jobs.worker_id().split(':')[0]}:{dead.pid}:0"
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live_worker = f"{jobs.worker_id().split(':')[0]}:{live.pid}:0"
        a = jobs.claim(records_url, dead_worker)
        b = jobs.claim(records_url, live_worker)
        requeued, exhausted = jobs.requeue_stale(records_url)
        assert requeued == 1 and exhausted == []
        with session_scope(records_url) as s:
            assert s.get(GradingJob, a.id).state == "queued"
            assert s.get(GradingJob, b.id).state == "running"
    finally:
        live.kill()
        live.wait()


def test_another_hosts_job_is_trusted_for_its_lease_then_requeued(records_url):
    """On Kubernetes a dead grading pod never returns under its name to recover its jobs."""
    jobs.enqueue(records_url, "c1", "module", "ann", T0)
    jobs.enqueue(records_url, "c1", "module", "bob", T0)
    fresh = jobs.claim(records_url, "grading-7d9f-abcde:41:0")
    old = jobs.claim(records_url, "grading-7d9f-fghij:41:0")
    with session_scope(records_url) as s:
        s.get(GradingJob, old.id).started_at -= jobs.FOREIGN_LEASE + timedelta(seconds=1)
    requeued, exhausted = jobs.requeue_stale(records_url)
    assert requeued == 1 and exhausted == []
    with session_scope(records_url) as s:
        assert s.get(GradingJob, old.id).state == "queued"
        assert s.get(GradingJob, fresh.id).state == "running"


def test_job_that_keeps_killing_its_worker_is_given_up(records_url):
    jobs.enqueue(records_url, "c1", "module", "ann", T0)
    for _ in range(jobs.MAX_TRIES):
        j = jobs.claim(records_url, "nohost-but-ours")
        with session_scope(records_url) as s:  # a worker id of our host whose pid is gone
            s.get(GradingJob, j.id).worker = f"{jobs.worker_id().split(':')[0]}:999999999:0"
        requeued, exhausted = jobs.requeue_stale(records_url)
    assert requeued == 0 and [e.id for e in exhausted] == [j.id]


def test_finish_writes_the_result_exactly_once(records_url):
    _learners(records_url, "ann")
    jobs.enqueue(records_url, "c1", "module", "ann", T0)
    j = jobs.claim(records_url, "w1")
    g = Graded(score=8, max_score=10, details=[{"id": "q01", "points": 2, "max_points": 2,
                                                "correct": True, "legal_basis": "《宪法》第五条"}])
    assert jobs.finish(records_url, j.id, lambda s, job: add_result(s, job, g)) is True
    assert jobs.finish(records_url, j.id, lambda s, job: add_result(s, job, g)) is False
    with session_scope(records_url) as s:
        rows = s.query(Result).all()
        assert len(rows) == 1
        r = rows[0]
        assert (r.attempt, r.score, r.passed, r.outcome, r.job_id) == (1, 8, True, "ok", j.id)
        assert [i.question_id for i in r.items] == ["q01"]
        assert "已评分" in r.message
        assert s.get(GradingJob, j.id).state == "done"
