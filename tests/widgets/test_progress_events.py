"""Reading progress and the learning-event queue (disk first, background post, retry)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import widgets as xf
from widgets.events import EventClient
from tests.conftest import free_port


def test_progress_counts_sections_and_practice(practice, tmp_path):
    bar = xf.ReadingProgress(sections=["一", "二"])
    s1 = xf.Section("一")
    q = xf.TrueFalse(id="p1", stem="?", key=True)
    assert "已读 0/2 节" in bar.label.value and "练习已做 0/1 题" in bar.label.value
    s1.button.click()
    q.choice.value = False
    q.check()
    assert "已读 1/2 节" in bar.label.value and "练习已做 1/1 题" in bar.label.value
    assert bar.bar.value == pytest.approx(2 / 3)
    # survives a restart
    xf.setup(course="demo", mode="practice", notebook=practice.notebook, username="ganbu1",
             events=False)
    bar2 = xf.ReadingProgress(sections=["一", "二"], practice=["p1"])
    assert "已读 1/2 节" in bar2.label.value and "练习已做 1/1 题" in bar2.label.value
    assert xf.Section("一").button.description == "本节已读 ✓"


class Recorder(BaseHTTPRequestHandler):
    received: list = []
    fail = 0

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Recorder.fail > 0:
            Recorder.fail -= 1
            self.send_response(503)
            self.end_headers()
            return
        Recorder.received.append((self.path, self.headers["Authorization"], body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *a):
        pass


@pytest.fixture
def service():
    port = free_port()
    srv = ThreadingHTTPServer(("127.0.0.1", port), Recorder)
    Recorder.received, Recorder.fail = [], 0
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{port}/services/records/"
    srv.shutdown()
    srv.server_close()


def test_events_are_queued_when_offline_and_sent_later(tmp_path, service):
    offline = EventClient(tmp_path / "q", url=f"http://127.0.0.1:{free_port()}/", token="t1",
                          retry_seconds=0.1)
    t0 = time.monotonic()
    cid = offline.send("section_read", course_id="demo", lesson="lesson1", item="一")
    assert time.monotonic() - t0 < 0.5  # never blocks the page
    assert offline.flush() == 0
    assert [e["client_id"] for e in offline.pending()] == [cid]

    # same queue, the service is back (e.g. a new kernel picking it up)
    Recorder.fail = 1
    online = EventClient(tmp_path / "q", url=service, token="t1", retry_seconds=0.1)
    online.send("practice_answered", course_id="demo", item="p1", correct=True)
    deadline = time.monotonic() + 10
    while online.pending() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert online.pending() == []
    paths = {p for p, _a, _b in Recorder.received}
    assert paths == {"/services/records/api/events"}
    assert {b["client_id"] for _p, _a, b in Recorder.received} >= {cid}
    assert all(a == "token t1" for _p, a, _b in Recorder.received)
    body = Recorder.received[-1][2]
    assert set(body) == {"client_id", "kind", "course_id", "lesson", "item", "correct", "payload"}
    assert not any("duration" in k or "time" in k for k in body["payload"])


def test_torn_queue_line_is_skipped(tmp_path):
    c = EventClient(tmp_path / "q", url=None, token="")
    c.send("lesson_opened")
    with open(c.queue, "a") as f:
        f.write('{"client_id": "x", "kin')
    assert len(c.pending()) == 1
