"""The start queue of XuefaSpawner without a hub: order, places, estimates, cancellation, and
that time in the queue is not counted against ``start_timeout``.

The "fake starts" here are asyncio sleeps standing for a server's start; the real thing (a
platform whose learners start at once through the hub with one slot) is
tests/integration/test_spawn_queue.py."""

from __future__ import annotations

import asyncio
import inspect
import time
from types import SimpleNamespace

import pytest

from hub_config.spawner import (StartQueue, XuefaSpawner, default_max_concurrent_starts,
                                human_wait, queue_event, ready_event_zh)


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def test_slots_go_first_come_first_served_and_nobody_is_turned_away():
    async def main():
        q = StartQueue(limit=2)
        order = []

        async def person(name, hold):
            ticket = await q.acquire(name)
            order.append(name)
            await hold.wait()
            q.release(ticket)

        holds = {n: asyncio.Event() for n in "abcdef"}
        tasks = []
        for n in "abcdef":
            tasks.append(asyncio.create_task(person(n, holds[n])))
            await asyncio.sleep(0)  # they arrive in this order
        await asyncio.sleep(0.01)
        assert order == ["a", "b"] and q.running == 2 and q.waiting == 4
        for n in "bacdfe":  # whoever finishes, the next in line starts
            holds[n].set()
            await asyncio.sleep(0.01)
            assert q.running <= 2
        await asyncio.gather(*tasks)
        assert order == list("abcdef")
        assert q.running == 0 and q.waiting == 0

    run(main())


def test_places_and_estimates_follow_the_moving_average():
    clock = Clock()
    q = StartQueue(limit=2, initial_estimate=10.0, clock=clock)
    a, b = q.enqueue("a"), q.enqueue("b")  # both start at once
    c, d, e = q.enqueue("c"), q.enqueue("d"), q.enqueue("e")
    assert not a.waiting and not b.waiting and c.waiting
    assert [q.ahead(t) for t in (c, d, e)] == [0, 1, 2]
    # a and b need about 10 s each: c and d start when they end, e one start later
    assert [q.estimate(t) for t in (c, d, e)] == [10.0, 10.0, 20.0]
    clock.now += 4
    assert q.estimate(c) == 6.0 and q.estimate(e) == 16.0
    # a took 4 s: the average of measured starts replaces the first guess
    q.release(a)
    assert q.average() == 4.0
    assert not c.waiting and [q.ahead(t) for t in (d, e)] == [0, 1]
    clock.now += 2
    q.release(b)  # 6 s
    assert q.average() == 5.0
    # d starts now; e waits for c (started 2 s ago, 5 s average: 3 s left) or d (5 s): 3 s
    assert not d.waiting and q.estimate(e) == 3.0
    # a start running past the average is counted as nearly done, not as over
    clock.now += 60
    assert q.estimate(e) == 1.0
    # a failed start does not teach the average anything
    q.release(c, record=False)
    assert q.average() == 5.0


def test_a_cancelled_wait_leaves_the_queue_and_passes_a_slot_on():
    async def main():
        q = StartQueue(limit=1)
        first = await q.acquire("first")
        waiting = asyncio.create_task(q.acquire("stops-waiting"))
        last = asyncio.create_task(q.acquire("last"))
        await asyncio.sleep(0.01)
        assert q.waiting == 2
        waiting.cancel()  # the page's 取消开启 button while queued
        await asyncio.sleep(0.01)
        assert q.waiting == 1
        assert q.ahead(q._waiting[0]) == 0
        q.release(first)
        assert (await last).owner == "last"
        assert q.running == 1 and q.waiting == 0
        q.release(await last)

        # cancelled in the very moment it was given the slot: the slot goes to the next
        holder = await q.acquire("holder")
        unlucky = asyncio.create_task(q.acquire("unlucky"))
        after = asyncio.create_task(q.acquire("after"))
        await asyncio.sleep(0.01)
        q.release(holder)  # unlucky holds the slot, its task not resumed yet
        unlucky.cancel()
        ticket = await after
        assert ticket.owner == "after" and q.running == 1
        q.release(ticket)
        q.release(ticket)  # twice is harmless
        assert q.running == 0 and q.waiting == 0

    run(main())


def test_queue_messages_are_chinese_with_place_and_estimate():
    assert human_wait(0) == "5 秒" and human_wait(12) == "15 秒" and human_wait(61) == "2 分钟"
    ev = queue_event(3, 42)
    assert ev["message"].startswith("正在排队：您前面还有 3 人，预计约 45 秒后开始")
    assert ev["queue"] == {"ahead": 3, "eta_seconds": 42}
    assert "马上轮到您" in queue_event(0, 5)["message"]
    ready = ready_event_zh(None, {"progress": 100, "ready": True, "url": "/user/a\"b/",
                                  "message": "Server ready at /user/a/"})
    assert ready["message"] == "学习空间已就绪，正在进入……"
    assert '"' not in ready["html_message"].split('href="')[1].split('"')[0]


def test_default_slots_are_two_per_cpu():
    assert default_max_concurrent_starts() >= 2
    assert default_max_concurrent_starts() % 2 == 0


class FakeStartSpawner(XuefaSpawner):
    """XuefaSpawner whose server start is a sleep (no process, no HTTP): the queue, progress
    and timeout logic around it are the real ones."""

    start_seconds = 0.4

    async def _start_server(self):
        await asyncio.sleep(self.start_seconds)
        return ("127.0.0.1", 1)

    async def wait_responsive(self, url):
        await asyncio.sleep(self.start_seconds)


def fake_spawner(name):
    user = SimpleNamespace(name=name, groups=[], url=f"/user/{name}/")
    sp = FakeStartSpawner(user=user, max_concurrent_starts=1, start_timeout=1)
    sp._spawn_pending = True
    return sp


async def hub_spawn(spawner):
    """What JupyterHub 6.1.1's User.spawn does around the spawner (see the next test): the
    pre-spawn hook awaited as is, then start() under start_timeout."""
    await spawner.run_pre_spawn_hook()
    await asyncio.wait_for(spawner.start(), timeout=spawner.start_timeout)


def test_jupyterhub_times_start_but_not_the_pre_spawn_hook():
    """The queue relies on this order in JupyterHub's User.spawn (fails on an upgrade that
    moves the hook under the timeout)."""
    from jupyterhub.user import User

    src = inspect.getsource(User.spawn)
    hook = src.index("run_pre_spawn_hook()")
    timed = src.index("asyncio.wait_for(f, timeout=spawner.start_timeout)")
    assert hook < src.index("spawner.start()") < timed
    assert "wait_for" not in src[:hook].split("apply_group_overrides")[-1]


def test_time_in_the_queue_does_not_count_against_start_timeout():
    async def main():
        XuefaSpawner.start_queue = StartQueue(limit=1)
        spawners = [fake_spawner(f"p{i}") for i in range(4)]
        t0 = time.monotonic()
        # each start takes 0.8 s under a 1 s start_timeout; the last waits 2.4 s in the queue
        results = await asyncio.gather(*(hub_spawn(s) for s in spawners),
                                       return_exceptions=True)
        elapsed = time.monotonic() - t0
        assert results == [None] * 4, results
        assert elapsed >= 3.0
        q = XuefaSpawner.start_queue
        assert q.running == 0 and q.waiting == 0
        assert 0.7 < q.average() < 1.0  # measured: start plus becoming responsive

    try:
        run(main())
    finally:
        XuefaSpawner.start_queue = StartQueue(limit=default_max_concurrent_starts())


def test_a_slow_real_start_still_times_out_and_frees_its_slot():
    async def main():
        XuefaSpawner.start_queue = StartQueue(limit=1)
        slow = fake_spawner("slow")
        slow.start_seconds = 2  # beyond start_timeout=1 by itself
        with pytest.raises(asyncio.TimeoutError):
            await hub_spawn(slow)
        q = XuefaSpawner.start_queue
        assert q.running == 0 and q.average() == q.initial_estimate

    try:
        run(main())
    finally:
        XuefaSpawner.start_queue = StartQueue(limit=default_max_concurrent_starts())


def test_progress_shows_the_place_while_queued_then_the_start():
    async def main():
        XuefaSpawner.start_queue = StartQueue(limit=1, initial_estimate=0.8)
        first, second, third = (fake_spawner(n) for n in ("first", "second", "third"))
        tasks = [asyncio.create_task(hub_spawn(s)) for s in (first, second, third)]
        await asyncio.sleep(0.05)
        events = []

        async def watch():
            async for ev in third._generate_progress():
                events.append(ev)

        watcher = asyncio.create_task(watch())
        await asyncio.gather(*tasks)
        await asyncio.wait_for(watcher, timeout=5)
        messages = [e["message"] for e in events]
        assert messages[0] == "已收到开启学习空间的请求"
        assert messages[1].startswith("正在排队：您前面还有 1 人，预计约")
        assert any(m.startswith("正在排队：马上轮到您") for m in messages[2:])
        assert "轮到您了：正在创建学习空间……" in messages
        assert all(not any("a" <= ch.lower() <= "z" for ch in m) for m in messages), messages

    try:
        run(main())
    finally:
        XuefaSpawner.start_queue = StartQueue(limit=default_max_concurrent_starts())


def test_a_stop_while_queued_leaves_the_queue():
    async def main():
        XuefaSpawner.start_queue = StartQueue(limit=1)
        first, second = fake_spawner("first"), fake_spawner("second")
        first.start_seconds = 0.3
        a = asyncio.create_task(hub_spawn(first))
        await asyncio.sleep(0.05)
        b = asyncio.create_task(hub_spawn(second))
        await asyncio.sleep(0.05)
        q = XuefaSpawner.start_queue
        assert q.waiting == 1
        b.cancel()  # JupyterHub cancels the spawn future when the server is stopped
        await asyncio.sleep(0.05)
        assert q.waiting == 0 and second._start_ticket is None
        await a
        assert q.running == 0

    try:
        run(main())
    finally:
        XuefaSpawner.start_queue = StartQueue(limit=default_max_concurrent_starts())


def test_config_queues_instead_of_refusing_and_reads_the_slot_count(monkeypatch, tmp_path):
    from traitlets.config import Config

    from grading.host.datadir import DataDir
    from hub_config.config import configure_spawner

    c = Config()
    monkeypatch.delenv("XUEFA_MAX_CONCURRENT_STARTS", raising=False)
    configure_spawner(c, DataDir(tmp_path))
    assert c.JupyterHub.concurrent_spawn_limit == 0  # JupyterHub's 429 would come first
    assert "max_concurrent_starts" not in c.XuefaSpawner
    monkeypatch.setenv("XUEFA_MAX_CONCURRENT_STARTS", "3")
    configure_spawner(c, DataDir(tmp_path))
    assert c.XuefaSpawner.max_concurrent_starts == 3


@pytest.mark.parametrize("template,ctx", [
    ("spawn_pending.html", {}),
    ("spawn.html", {"error_message": "x", "for_user": SimpleNamespace(name="other")}),
    ("not_running.html", {"failed": True, "failed_message": "x"}),
    ("not_running.html", {"implicit_spawn_seconds": 5}),
])
def test_spawn_pages_have_no_english_a_person_reads(template, ctx):
    """The hub's templates rendered the way JupyterHub loads them (ours first, its own under
    ``templates/``): text, titles and labels a person sees are Chinese."""
    import re
    from pathlib import Path

    import jinja2
    from bs4 import BeautifulSoup
    from jupyterhub.app import JupyterHub

    from hub_config.config import TEMPLATES

    base = JupyterHub()._template_paths_default()[0]
    env = jinja2.Environment(autoescape=True, loader=jinja2.ChoiceLoader([
        jinja2.PrefixLoader({"templates": jinja2.FileSystemLoader([base])}, "/"),
        jinja2.FileSystemLoader([str(TEMPLATES), base]),
    ]))
    assert Path(env.get_template(template).filename).parent == TEMPLATES
    page = env.get_template(template).render(
        base_url="/hub/", static_url=lambda path, **kw: f"/hub/static/{path}",
        user=SimpleNamespace(name="me", json_escaped_name="me",
                             spawner=SimpleNamespace(options_form="")),
        parsed_scopes=set(), services=[],
        progress_url="/hub/api/users/me/server/progress", spawn_url="/hub/spawn/me",
        logout_url="/hub/logout", login_url="/hub/login", url="/hub/spawn/me",
        xsrf_form_html=lambda: "", **ctx)
    soup = BeautifulSoup(page, "html.parser")
    for tag in soup(["script", "style", "noscript"]):
        tag.decompose()
    for tag in soup.find_all(attrs={"aria-hidden": "true"}):  # the frame's hidden dialog
        tag.decompose()
    for tag in soup("nav"):  # the top bar: every page's frame (page.html), not these pages'
        tag.decompose()
    text = [soup.get_text(" ")] + [str(t[a]) for t in soup.find_all(True)
                                   for a in ("title", "aria-label", "placeholder", "alt")
                                   if t.get(a)]
    words = re.findall(r"[A-Za-z]{2,}", " ".join(text).replace("other", ""))
    assert not words, words
