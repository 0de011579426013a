"""One learner's kernel must not take the shared host down: a fork bomb and a 20 GB allocation
run in learner1's own kernel while the hub API and another learner's server keep answering.

Both attacks are bounded: the bomb's processes all exit after :data:`BOMB_SECONDS` (and are
reaped), the allocation fails at once under the address-space limit."""

from __future__ import annotations

import os
import threading
import time

import pytest
import requests

from tests.security.conftest import Learner

pytestmark = pytest.mark.integration

BOMB_SECONDS = 20
ANSWER_WITHIN = 10.0  # seconds a page of the platform may take while the bomb runs

BOMB = f'''
import errno, os, time
end = time.time() + {BOMB_SECONDS}
root, refused = os.getpid(), 0
while time.time() < end:
    try:
        os.fork()
    except OSError as exc:
        refused += exc.errno == errno.EAGAIN
    try:
        while os.waitpid(-1, os.WNOHANG)[0] > 0:
            pass
    except ChildProcessError:
        pass
# every process reaps its own children before it exits: nothing is orphaned or left a zombie
deadline = time.time() + 30
while time.time() < deadline:
    try:
        os.waitpid(-1, 0)
    except ChildProcessError:
        break
if os.getpid() != root:
    os._exit(0)
print("refused" if refused else "never refused")
'''


@pytest.fixture(scope="module")
def bystander(target) -> Learner:
    return Learner(target, "learner2")


def _timed(fn) -> float:
    t0 = time.monotonic()
    r = fn()
    assert r.status_code == 200, (r.status_code, r.text[:200])
    return time.monotonic() - t0


def _watch(target, bystander, stop: threading.Event, worst: list[float]) -> None:
    while not stop.is_set():
        for fn in (lambda: target.api("GET", "/users/learner2"),
                   lambda: bystander.session.get(f"{bystander.server_url}/api/status", timeout=60)):
            try:
                worst.append(_timed(fn))
            except requests.RequestException as exc:  # a timeout or refused connection: unanswered
                worst.append(float("inf"))
                print("unanswered:", exc)
        time.sleep(1)


def _uid_procs(uid: int) -> int:
    n = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                n += os.stat(f"/proc/{pid}").st_uid == uid
            except OSError:
                pass
    return n


def test_fork_bomb_in_a_kernel_leaves_the_platform_answering(target, attacker, bystander):
    stop, times = threading.Event(), []
    watcher = threading.Thread(target=_watch, args=(target, bystander, stop, times), daemon=True)
    watcher.start()
    try:
        out, err = attacker.run(BOMB)
    finally:
        stop.set()
        watcher.join(60)
    assert not err, err
    assert "refused" in out and "never" not in out, "no process limit stopped the bomb"
    assert times and max(times) < ANSWER_WITHIN, f"slowest answer {max(times):.1f}s ({len(times)} probes)"
    if os.geteuid() == 0:  # nothing of the bomb is left behind
        uid = target.datadir.home("learner1").stat().st_uid
        t0 = time.monotonic()
        while _uid_procs(uid) > 30 and time.monotonic() - t0 < 30:
            time.sleep(1)
        assert _uid_procs(uid) <= 30


def test_twenty_gigabyte_allocation_fails_in_the_kernel(target, attacker, bystander):
    t0 = time.monotonic()
    out, err = attacker.run("x = bytearray(20 * 1024 ** 3)\nprint(len(x))")
    assert err.startswith("MemoryError"), (out, err)
    assert time.monotonic() - t0 < 60
    assert _timed(lambda: target.api("GET", "/users/learner2")) < ANSWER_WITHIN
    assert _timed(lambda: bystander.session.get(f"{bystander.server_url}/api/status",
                                                timeout=60)) < ANSWER_WITHIN
    # the learner's own server survived its kernel's failure
    out, err = attacker.run("print(6 * 7)")
    assert out.strip() == "42" and not err
