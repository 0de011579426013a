"""A burst of starts on a real platform with one start slot (``XUEFA_MAX_CONCURRENT_STARTS=1``):
several learners' servers requested at once through the hub REST API all come up, in order,
none refused or given up; the one at the back of the queue sees its place in Chinese on the
progress stream, and its spawn-pending page has no English a person could read."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
from bs4 import BeautifulSoup

pytestmark = pytest.mark.integration

BURST = ["learner1", "learner2", "spare1", "spare2"]
LAST = BURST[-1]
READY_TIMEOUT = 300


@pytest.fixture(scope="module")
def hub_env():
    return {"XUEFA_MAX_CONCURRENT_STARTS": "1", "XUEFA_DISABLE_SERVICES": "dashboards"}


def read_progress(hub, username: str, events: list, done: threading.Event) -> None:
    """The event stream the spawn-pending page reads (EventSource), until ready or failed."""
    try:
        with hub.api("GET", f"/users/{username}/server/progress", stream=True,
                     timeout=READY_TIMEOUT) as r:
            assert r.status_code == 200, r.text
            for line in r.iter_lines(decode_unicode=True):
                if not line or not line.startswith("data:"):
                    continue
                event = json.loads(line[len("data:"):])
                events.append(event)
                if event.get("ready") or event.get("failed"):
                    break
    finally:
        done.set()


def visible_text(page: str) -> str:
    """What a person reads or hears on the page, the hub's frame included (top bar, the note
    shown without JavaScript, the error dialog, labels and titles); no scripts or styles."""
    soup = BeautifulSoup(page, "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    parts = [soup.get_text(" ")]
    for tag in soup.find_all(True):
        for attr in ("title", "aria-label", "placeholder", "alt", "value"):
            if tag.get(attr) and tag.name != "input":
                parts.append(str(tag[attr]))
    return " ".join(parts)


def test_a_burst_with_one_start_slot_queues_everyone_and_all_servers_come_up(hub):
    # the last learner logs in first (a browser session to open the spawn-pending page with)
    session = hub.login(LAST)
    for name in BURST:
        r = hub.api("POST", f"/users/{name}/server")
        assert r.status_code in (201, 202), f"{name}: {r.status_code} {r.text}"

    events: list[dict] = []
    done = threading.Event()
    reader = threading.Thread(target=read_progress, args=(hub, LAST, events, done), daemon=True)
    reader.start()

    # the spawn-pending page while the last one waits: all Chinese, with the cancel button
    page = session.get(f"{hub.url}/hub/spawn-pending/{LAST}", timeout=60)
    assert page.status_code == 200, page.status_code
    assert "正在为您准备学习空间" in page.text and "取消开启" in page.text
    assert "启动记录" in page.text
    # the account name in the top bar is the learner's own (latin letters by design)
    text = visible_text(page.text).replace(LAST, "")
    english = re.findall(r"[A-Za-z]{2,}", text)
    assert not english, f"English on the spawn-pending page: {english}\n{text}"

    deadline = time.monotonic() + READY_TIMEOUT
    ready = {}
    while time.monotonic() < deadline and len(ready) < len(BURST):
        for name in BURST:
            if name in ready:
                continue
            server = (hub.api("GET", f"/users/{name}").json().get("servers") or {}).get("")
            assert server, f"{name}'s spawn was given up:\n{hub.log_text()[-6000:]}"
            if server.get("ready"):
                ready[name] = time.monotonic()
        time.sleep(1)
    assert len(ready) == len(BURST), f"not ready: {set(BURST) - set(ready)}\n{hub.log_text()[-6000:]}"
    # one slot: they come up in the order they asked
    assert sorted(ready, key=ready.get) == BURST

    assert done.wait(60), "the progress stream did not end"
    messages = [e.get("message", "") for e in events]
    assert messages[0] == "已收到开启学习空间的请求", messages
    queued = [m for m in messages if m.startswith("正在排队：")]
    assert queued, messages
    assert re.search(r"您前面还有 [12] 人，预计约 \d+ (秒|分钟)后开始", queued[0]), queued
    assert "轮到您了：正在创建学习空间……" in messages
    assert events[-1].get("ready") and events[-1]["message"] == "学习空间已就绪，正在进入……"
    assert not any(e.get("failed") for e in events)

    log = hub.log_text()
    assert "waits to start" in log
    assert "Too many users" not in log and "giving up" not in log

    for name in BURST:
        hub.stop_server(name)
